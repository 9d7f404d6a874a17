#pragma once
// What DPDC v2 held back, round by round, when a trace is migrated through
// the simulator: the same TraceWorld, round driver and DpdcPolicy that
// `dpdc-engine simulate --policy dpdc` runs, with the same settings
// (simulated_policy_options), so the heatmap shows what the policy chose
// rather than a restatement of its rule. Pure: no I/O.
//
// Cost: one simulated migration (every trace event up to the migration's
// end is applied once, the trace repeating if the migration outlasts it, and
// each round plans over its candidate pages), plus O(P / 64 + held pages)
// per round to count the held pages per group. Memory: the simulator's
// (about 50 bytes per guest page) plus 8 bytes per group and round.
#include <cstdint>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace dpdc {

struct HoldReplayOptions {
  double start_s = 0;                     // migration starts this far into the trace; before it is history
  double bandwidth_mb_s = 100;            // modelled link, MB = 10^6 bytes
  std::uint64_t downtime_limit_ms = 300;
};

// One iterative pre-copy round. Times are trace times (ns since the trace
// began); they pass the trace's end when the migration outlasts it.
struct HeldRound {
  std::uint32_t round = 0;        // 1-based
  std::uint64_t start_ns = 0;     // when the policy planned the round
  std::uint64_t end_ns = 0;       // its last page sent (== start_ns if it sent nothing)
  std::uint64_t final_pages = 0;  // held for the stop-and-copy round
  std::uint64_t deferred_pages = 0;  // held for this round only
  // [group]: the same, per group of pages_per_group consecutive pages.
  std::vector<std::uint32_t> final_by_group, deferred_by_group;
};

struct HoldReplay {
  std::vector<HeldRound> rounds;  // in order; each starts where the one before ended
  std::uint64_t start_ns = 0;     // migration start (round 1's start)
  std::uint64_t stop_ns = 0;      // guest stopped: the stop-and-copy round begins
  std::uint64_t end_ns = 0;       // last page of the stop-and-copy round sent
  std::string stop_reason;        // the policy's, in words
};

// `trace` must cover its events (every page index below trace.pages, every
// time at most trace.duration_ns), as decode_trace guarantees; TraceWorld
// checks it. Throws Error(Usage) when it does not, or when an option is out
// of range.
HoldReplay replay_dpdc_holds(const Trace& trace, const HoldReplayOptions& options, std::uint64_t pages_per_group);

}  // namespace dpdc
