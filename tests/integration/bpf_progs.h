#pragma once
// Helpers to see which BPF programs the kernel holds and to drive the
// tracker's programs directly with BPF_PROG_TEST_RUN.
#include <cstdint>
#include <string>

namespace dpdc::test {

// Number of loaded BPF programs with this name (kernel truncates names to 15 chars).
int count_programs_named(const std::string& name);

// Waits (up to 10 s) until exactly `expected` programs have this name and
// returns the last count seen: the kernel frees programs asynchronously
// (after an RCU grace period) once their last reference is gone.
int settle_programs_named(const std::string& name, int expected);

// Runs a raw_tp program once with the given tracepoint arguments, on `cpu`
// (-1: the calling CPU; on another CPU it runs in an IPI under that CPU's task).
int run_raw_tp(int prog_fd, const std::uint64_t* args, unsigned nargs, int cpu = -1);

}  // namespace dpdc::test
