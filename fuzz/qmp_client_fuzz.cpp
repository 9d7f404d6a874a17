// The engine's QMP client against a hostile server: the input is everything
// the server says (greeting, replies, events), already waiting on a
// connected socket that then reaches end-of-file. The client negotiates and
// runs the commands the engine runs against dpdc-vm; a dpdc-vm memory reply
// goes through layout_from_dpdc_vm(), an `info ramblock` text through
// parse_info_ramblock(), as the engine uses them.
//
// dpdc::Error is the expected answer to a bad peer; any other exception
// escaping, or a sanitizer report, is a defect. A layout accepted must fit
// the RAM it describes.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dpdc/error.h"
#include "dpdc/unique_fd.h"
#include "track/memory_layout.h"
#include "qemu/qemu_source.h"
#include "qemu/qmp_client.h"

namespace {

void check_layout(const dpdc::MemoryLayout& layout) {
  for (const auto& s : layout.slots) {
    std::uint64_t end = 0;
    if (__builtin_add_overflow(s.first_page, s.pages, &end) || end > layout.pages) std::abort();
  }
}

void session(dpdc::QmpClient& qmp) {
  (void)qmp.execute("query-status");
  check_layout(dpdc::layout_from_dpdc_vm(qmp.execute("x-dpdc-query-memory")));
  const auto text = qmp.execute("human-monitor-command", {{"command-line", "info ramblock"}});
  if (text.is_string()) (void)dpdc::parse_info_ramblock(text.get<std::string>());
  (void)qmp.execute("x-dpdc-query-harvest", {{"first-page", 0}, {"count", 64}});
  (void)qmp.execute("stop");
  (void)qmp.execute("x-dpdc-save-devices");
  (void)qmp.execute("cont");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  dpdc::UniqueFd client(fds[0]), server(fds[1]);
  // All of it fits the socket's buffer (the corpus keeps inputs small); what
  // would not is dropped, as a server that hangs up would.
  std::size_t off = 0;
  while (off < size) {
    const ssize_t n = ::send(server.get(), data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::shutdown(server.get(), SHUT_WR);
  try {
    dpdc::QmpClient qmp(std::move(client), "fuzz", std::chrono::milliseconds(1000));
    session(qmp);
  } catch (const dpdc::Error&) {
  }
  return 0;
}
