#include "qemu/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "dpdc/error.h"
#include "dpdc/peer_json.h"

namespace dpdc {

namespace {

// An error reply's desc. A peer's error of another shape is quoted as JSON
// (any bytes in it replaced, not thrown over), so the caller's Error stays
// the one failure a command has.
std::string error_desc(const nlohmann::json& error) {
  if (error.is_object()) {
    const auto desc = error.find("desc");
    if (desc != error.end() && desc->is_string()) return desc->get<std::string>();
  }
  return error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

QmpClient::QmpClient(const std::string& socket_path, std::chrono::milliseconds timeout)
    : path_(socket_path), timeout_(timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    throw Error(ErrorKind::Usage, "QMP socket path is too long: " + socket_path);
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  fd_.reset(static_cast<int>(check_sys(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")));
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    throw Error(err == EACCES ? ErrorKind::Permission : ErrorKind::Target,
                "cannot connect to the QMP socket " + socket_path + ": " + std::strerror(err) +
                    "; is the VMM running with -qmp unix:" + socket_path + ",server=on,wait=off?");
  }
  negotiate();
}

QmpClient::QmpClient(UniqueFd connected, const std::string& name, std::chrono::milliseconds timeout)
    : path_(name), timeout_(timeout), fd_(std::move(connected)) {
  negotiate();
}

void QmpClient::negotiate() {
  greeting_ = read_message();
  if (!greeting_.contains("QMP")) {
    throw Error(ErrorKind::Target, path_ + " did not greet like a QMP server; is it a QMP socket?");
  }
  execute("qmp_capabilities");
}

nlohmann::json QmpClient::execute(const std::string& command, const nlohmann::json& arguments) {
  nlohmann::json req = {{"execute", command}, {"id", next_id_++}};
  if (!arguments.is_null()) req["arguments"] = arguments;
  std::string line = req.dump() + "\n";
  for (std::size_t off = 0; off < line.size();) {
    ssize_t n = ::send(fd_.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(errno, "sending " + command + " to " + path_, ErrorKind::Target);
    off += static_cast<std::size_t>(n);
  }
  for (;;) {
    nlohmann::json msg = read_message();
    if (msg.contains("event")) {
      events_.push_back(std::move(msg));
      continue;
    }
    if (msg.contains("id") && msg["id"] != req["id"]) continue;  // a stale reply
    if (msg.contains("error")) {
      throw Error(ErrorKind::Runtime, "QMP " + command + " failed: " + error_desc(msg["error"]));
    }
    if (msg.contains("return")) return msg["return"];
  }
}

nlohmann::json QmpClient::read_message() {
  for (;;) {
    auto nl = inbuf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = inbuf_.substr(0, nl);
      inbuf_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      try {
        return parse_peer_json(line);
      } catch (const PeerJsonError& e) {
        throw Error(ErrorKind::Target, "QMP peer " + path_ + " sent invalid JSON: " + e.what());
      }
    }
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw_errno(errno, "poll on " + path_);
    if (r == 0) throw Error(ErrorKind::Target, "the QMP peer " + path_ + " did not answer within " +
                                                   std::to_string(timeout_.count()) + " ms");
    char buf[65536];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(errno, "reading from " + path_, ErrorKind::Target);
    if (n == 0) throw Error(ErrorKind::Target, "the QMP peer " + path_ + " closed the connection");
    inbuf_.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace dpdc
