#pragma once
// What the policy tests share: a page's dirty history as the tracker keeps
// it, DPDC run on a trace, and how often each page was sent.
#include <cstdint>
#include <vector>

#include "dpdc/dirty_track.h"
#include "policy/policy.h"
#include "policy/policy_dpdc.h"
#include "precopy/precopy.h"
#include "sim/trace_world.h"

namespace dpdc::test {

// A page dirtied `count` times, the last two at last_ns and prev_ns.
inline dpdc_page page_record(std::uint32_t count, std::uint64_t last_ns, std::uint64_t prev_ns) {
  dpdc_page p{};
  p.count = count;
  p.last_ns = last_ns;
  p.prev_ns = prev_ns;
  return p;
}

// DPDC over `world`, told the link's bandwidth.
inline PrecopyReport run_dpdc(TraceWorld& world, double bandwidth_bytes_per_s) {
  PolicyOptions o;
  o.expected_bandwidth_bytes_per_s = bandwidth_bytes_per_s;
  DpdcPolicy dpdc(o);
  return run_precopy(world, dpdc);
}

// How many times each page went out, over every round of `world`.
inline std::vector<std::uint32_t> sends_per_page(const TraceWorld& world, std::uint64_t pages) {
  std::vector<std::uint32_t> n(pages, 0);
  for (const auto& round : world.sent_by_round()) round.for_each([&](std::size_t p) { n[p]++; });
  return n;
}

}  // namespace dpdc::test
