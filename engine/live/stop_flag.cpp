#include "live/stop_flag.h"

#include <time.h>

#include <atomic>

namespace dpdc {

namespace {
std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal.store(sig); }
}  // namespace

StopFlag::StopFlag() {
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopFlag::~StopFlag() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

bool StopFlag::raised() const noexcept { return g_signal.load() != 0; }
int StopFlag::signal() const noexcept { return g_signal.load(); }

bool StopFlag::sleep_for(std::chrono::nanoseconds d) const noexcept {
  // Short slices keep the reaction to a signal prompt without relying on EINTR.
  constexpr std::chrono::nanoseconds slice = std::chrono::milliseconds(20);
  while (d.count() > 0) {
    if (raised()) return true;
    auto step = d < slice ? d : slice;
    timespec ts{static_cast<time_t>(step.count() / 1'000'000'000), static_cast<long>(step.count() % 1'000'000'000)};
    nanosleep(&ts, nullptr);
    d -= step;
  }
  return raised();
}

}  // namespace dpdc
