// dpdc-vm's QMP server without its socket: the bytes a client sends, in
// pieces, through the stream splitter and a session, replies framed, exactly
// as QmpServer::read_client() handles them. The VM is a fake (no KVM) that
// behaves like dpdc-vm's machine, optionally behind IncomingVm, the control
// a dpdc-vm started with -incoming gives QMP while the stream loads.
// Input: the client's bytes, then a 3-byte trailer (largest piece, VM kind);
// see README.md.
//
// Checked besides sanitizer reports: no exception escapes a session, and
// every request gets exactly one reply (events aside), as QMP promises.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "incoming_control.h"
#include "qmp_commands.h"
#include "qmp_stream.h"

namespace {

using namespace dpdc::vm;

// A machine of kPages pages, 2 vCPUs, that pauses, resumes and harvests.
class FakeMachine : public VmControl {
 public:
  static constexpr std::uint64_t kPages = 1024;
  explicit FakeMachine(bool running, bool prelaunch) : running_(running), prelaunch_(prelaunch) {}
  bool running() const override { return running_; }
  bool prelaunch() const override { return prelaunch_; }
  void pause() override { running_ = prelaunch_ = false; }
  void resume() override {
    running_ = true;
    prelaunch_ = false;
  }
  void request_quit() override {}
  MemoryInfo memory_info() const override {
    return {kPages * kPageSize, 3, 2, 4096, {{0, 0, kPages * kPageSize, 0}}, 512, 512};
  }
  std::uint64_t ram_pages() const override { return kPages; }
  HarvestReport harvest(std::uint64_t first, std::uint64_t count) override {
    if (first > kPages || count > kPages - first) std::abort();  // the session checks the window
    HarvestReport h;
    h.pages = kPages;
    h.counts.assign(count, 1);
    h.total = count;
    return h;
  }
  WorkloadStatus workload_status() const override { return {"ab", {1, 2}, false}; }
  std::vector<DeviceSection> save_devices() override {
    if (running_) std::abort();  // the session only asks a stopped guest
    MachineState m;
    m.ram_size = kPages * kPageSize;
    m.vcpus = 2;
    return {encode_machine_state(m)};
  }

 private:
  bool running_, prelaunch_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto largest = in.ConsumeIntegralInRange<std::size_t>(1, 4096);
  const auto kind = in.ConsumeIntegral<std::uint8_t>();
  const std::string bytes = in.ConsumeRemainingBytesAsString();

  FakeMachine machine((kind & 1) != 0, (kind & 2) != 0);
  IncomingVm incoming(MemoryInfo{}, (kind & 8) != 0);
  if ((kind & 4) == 0) incoming.attach(machine);
  VmControl& vm = (kind & 16) != 0 ? static_cast<VmControl&>(machine) : incoming;

  QmpSession session(vm, [] { return QmpTimestamp{1, 2}; });
  QmpStreamSplitter splitter(8192);  // small, so that the fuzzer reaches the limit
  (void)qmp_frame(QmpSession::greeting());
  for (std::size_t off = 0; off < bytes.size(); off += largest) {
    const std::string_view piece = std::string_view(bytes).substr(off, largest);
    for (const std::string& text : splitter.feed(piece)) {
      std::size_t replies = 0;
      for (const auto& msg : session.handle_text(text)) {
        if (!msg.is_object()) std::abort();
        if (!msg.contains("event")) ++replies;
        const std::string frame = qmp_frame(msg);
        if (frame.size() < 3 || frame.substr(frame.size() - 2) != "\r\n") std::abort();
      }
      if (replies != 1) {
        std::fprintf(stderr, "%zu replies to one request\n", replies);
        std::abort();
      }
      if (session.quit_requested()) return 0;  // the server stops reading this client
    }
  }
  return 0;
}
