#pragma once
// A QMP client of a VMM (dpdc-vm or QEMU) that calls `on_stop` from its own
// thread the moment the VMM announces STOP. dpdc-vm sends the event to its
// other clients before its reply to the client that paused it, so a test
// acts before the engine has sent anything of its last round.
#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace dpdc::test {

class StopWatcher {
 public:
  StopWatcher(const std::string& qmp_path, std::function<void()> on_stop);
  ~StopWatcher();
  StopWatcher(const StopWatcher&) = delete;
  StopWatcher& operator=(const StopWatcher&) = delete;
  bool fired() const { return fired_; }

 private:
  int fd_ = -1;
  std::function<void()> on_stop_;
  std::atomic<bool> quit_{false}, fired_{false};
  std::thread thread_;
};

}  // namespace dpdc::test
