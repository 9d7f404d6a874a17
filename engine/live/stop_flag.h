#pragma once
// SIGINT/SIGTERM as a flag the long-running loops poll, so that they return
// normally and every RAII owner (BPF links, pins, mappings) cleans up.
#include <signal.h>

#include <chrono>

namespace dpdc {

class StopFlag {
 public:
  // Installs handlers for SIGINT and SIGTERM for the lifetime of the object.
  StopFlag();
  ~StopFlag();
  StopFlag(const StopFlag&) = delete;
  StopFlag& operator=(const StopFlag&) = delete;

  bool raised() const noexcept;
  int signal() const noexcept;
  // Sleeps up to `d`; returns early (true) when a stop signal arrives.
  bool sleep_for(std::chrono::nanoseconds d) const noexcept;

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

}  // namespace dpdc
