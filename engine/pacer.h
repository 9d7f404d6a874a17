#pragma once
// Bandwidth cap as a pure schedule: given how many bytes have gone out since
// the start and the time now, how long to wait before sending the next
// chunk. No clock is read here; callers pass monotonic nanoseconds.
#include <cstdint>

namespace dpdc {

class Pacer {
 public:
  // bytes_per_s == 0: no cap.
  explicit Pacer(double bytes_per_s = 0) : rate_(bytes_per_s) {}
  void start(std::uint64_t now_ns) {
    start_ns_ = now_ns;
    sent_ = 0;
  }
  // Nanoseconds to wait before `bytes` more may go out at `now_ns`; records them as sent.
  std::uint64_t reserve(std::uint64_t bytes, std::uint64_t now_ns) {
    if (rate_ <= 0) return 0;
    // The chunk may start once everything before it fits the rate.
    double due_ns = static_cast<double>(start_ns_) + static_cast<double>(sent_) * 1e9 / rate_;
    sent_ += bytes;
    return due_ns > static_cast<double>(now_ns) ? static_cast<std::uint64_t>(due_ns - static_cast<double>(now_ns)) : 0;
  }
  double rate() const { return rate_; }

 private:
  double rate_;
  std::uint64_t start_ns_ = 0;
  std::uint64_t sent_ = 0;
};

}  // namespace dpdc
