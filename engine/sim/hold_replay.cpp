#include "sim/hold_replay.h"

#include <algorithm>

#include "dpdc/error.h"
#include "policy/policy_dpdc.h"
#include "precopy/precopy.h"
#include "sim/simulate.h"
#include "sim/trace_world.h"

namespace dpdc {

HoldReplay replay_dpdc_holds(const Trace& trace, const HoldReplayOptions& options, std::uint64_t pages_per_group) {
  if (pages_per_group == 0) throw Error(ErrorKind::Usage, "a page group must hold at least one page");
  DpdcPolicy policy(simulated_policy_options(options.bandwidth_mb_s, options.downtime_limit_ms));
  TraceWorld world(trace, {options.bandwidth_mb_s * 1e6, options.start_s});
  const std::uint64_t groups = (std::max<std::uint64_t>(trace.pages, 1) + pages_per_group - 1) / pages_per_group;

  HoldReplay out;
  out.start_ns = world.now_ns();
  PrecopyOptions po;
  po.planned = [&](const RoundPlan& plan, const Bitmap& hold) {
    HeldRound r;
    r.round = plan.round;
    r.start_ns = plan.now_ns;
    r.final_by_group.assign(groups, 0);
    r.deferred_by_group.assign(groups, 0);
    const Bitmap& final_pages = policy.last_final();
    hold.for_each([&](std::size_t p) {
      const std::uint64_t g = p / pages_per_group;
      if (final_pages.test(p)) {
        ++r.final_by_group[g];
        ++r.final_pages;
      } else {
        ++r.deferred_by_group[g];
        ++r.deferred_pages;
      }
    });
    out.rounds.push_back(std::move(r));
  };
  const PrecopyReport report = run_precopy(world, policy, po);

  // The simulated clock moves only while pages are on the wire, so each
  // round ends its duration after it began and the next begins there.
  for (std::size_t i = 0; i < out.rounds.size() && i < report.rounds.size(); ++i) {
    out.rounds[i].end_ns = out.rounds[i].start_ns + report.rounds[i].result.duration_ns;
  }
  out.end_ns = out.start_ns + report.total_ns;
  out.stop_ns = out.end_ns - report.stop_ns;
  out.stop_reason = report.stop_reason;
  return out;
}

}  // namespace dpdc
