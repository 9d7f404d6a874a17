#pragma once
// The engine's one clock: CLOCK_MONOTONIC in nanoseconds, the clock the
// kernel's bpf_ktime_get_ns() stamps dirty events with, so engine times and
// tracker times compare directly.
#include <time.h>

#include <cstdint>

namespace dpdc {

inline std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace dpdc
