#pragma once
// A unix-socket relay between an engine and its destination, under the
// test's control: it forwards the engine's bytes one way and counts them,
// and on request stops reading (the engine's sends block once the socket
// buffer is full: a stalled link), reads at a set pace (a slow destination),
// reads on again, or closes both ends (a cut link).
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace dpdc::test {

class Relay {
 public:
  // Listens at `listen_path`; on the first connection, connects to
  // `target_path` (a destination's -incoming unix: socket).
  Relay(std::string listen_path, std::string target_path);
  ~Relay();  // stops forwarding and closes both ends
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  std::string uri() const { return "unix:" + listen_path_; }
  std::uint64_t forwarded() const { return forwarded_.load(); }
  void stall() { stalled_ = true; }
  void resume() { stalled_ = false; }
  // Reads at most `bytes` every 10 ms (0: as fast as the destination takes them).
  void pace(std::uint64_t bytes) { pace_ = bytes; }
  void cut() { cut_ = true; }
  // Whether the relay ended its link (cut, or either end closed).
  bool ended() const { return ended_.load(); }

 private:
  void run();

  std::string listen_path_, target_path_;
  int listen_fd_ = -1;
  std::atomic<std::uint64_t> forwarded_{0}, pace_{0};
  std::atomic<bool> stalled_{false}, cut_{false}, quit_{false}, ended_{false};
  std::thread thread_;
};

}  // namespace dpdc::test
