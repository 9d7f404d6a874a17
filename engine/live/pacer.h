#pragma once
// Bandwidth cap as a pure schedule: given how many bytes have gone out since
// the start and the time now, how long to wait before sending the next
// chunk. No clock is read here; callers pass monotonic nanoseconds.
#include <algorithm>
#include <cstdint>

namespace dpdc {

class Pacer {
 public:
  // bytes_per_s == 0: no cap.
  explicit Pacer(double bytes_per_s = 0) : rate_(bytes_per_s) {}
  void start(std::uint64_t now_ns) { next_ns_ = static_cast<double>(now_ns); }
  // Nanoseconds to wait before `bytes` more may go out at `now_ns`; records them as sent.
  // A chunk may start once the one before it has had its time at the rate.
  // Idle time earns no credit: after a pause (a slow scan, a QMP round trip)
  // sending resumes at the rate, not in a burst that would queue up at the
  // destination and show up later as downtime.
  std::uint64_t reserve(std::uint64_t bytes, std::uint64_t now_ns) {
    if (rate_ <= 0) return 0;
    const double now = static_cast<double>(now_ns);
    const double due = std::max(next_ns_, now);
    next_ns_ = due + static_cast<double>(bytes) * 1e9 / rate_;
    return static_cast<std::uint64_t>(due - now);
  }
  double rate() const { return rate_; }

 private:
  double rate_;
  double next_ns_ = 0;
};

}  // namespace dpdc
