#pragma once
// Dirty Pages Delayed Copy, second version (docs/dpdc.md has the rules, the
// reasons and the measurements). Each round every candidate page gets a
// state from its in-kernel history, through one number: its dirty rate,
// events / time tracked.
//   final - hot: expected to be dirtied again within the downtime limit
//           (rate x downtime limit >= 1), or written as often as the history
//           can show (rate >= 0.8 x its resolution: a QEMU source's ring is
//           reset about once a second, so no page there shows more than
//           about 1 event/s however hot it is). It will be dirty whenever
//           pre-copy stops, so it is held for the stop-and-copy round. At
//           most the budget (what the link moves within the downtime
//           limit), hottest first.
//   defer - warm (rate at least twice the guest's mean page rate) and
//           expected to be dirtied again while this round is still being
//           sent (rate x round time >= 0.2). Held for this round only: a
//           later round is shorter, so the page goes out later, with less
//           time left to be dirtied again. The round time counts only the
//           pages the round sends, so the more it defers the shorter it is.
//   send  - everything else.
// A round that would send fewer than 50 pages sends its deferred pages too.
// Pages dirtied again before their turn in a round are skipped as in Xen.
// Stop rules: QEMU's (what is left, held pages included, fits bandwidth x
// downtime limit) unless the pages newly dirtied in the round (not held)
// fell below half of the previous round's, in which case one more round is
// cheap and shortens the downtime; and Xen's three (30 rounds, < 50 pages
// sent and skipped, 3x guest pages), whichever comes first.
#include <cstdint>
#include <vector>

#include "policy/policy.h"

namespace dpdc {

struct DpdcParams {
  std::uint64_t downtime_limit_ms = 300;
  std::uint32_t max_rounds = 30;
  double expected_bandwidth_bytes_per_s = 134217728.0;
  // A rate needs at least this many dirty events (one event gives no rate).
  std::uint32_t min_events = 2;
  // Tracked time is at least this long, so a tracker attached a moment ago
  // does not turn two events into a huge rate.
  std::uint64_t min_tracked_ms = 1000;
  // final: rate x downtime limit >= final_events, or rate >=
  // saturated_fraction x RoundPlan::history_resolution_hz (when known).
  double final_events = 1.0;
  double saturated_fraction = 0.8;
  // warm: rate >= warm_factor x the mean rate of all guest pages.
  double warm_factor = 2.0;
  // defer: a warm page with rate x round time >= defer_events.
  double defer_events = 0.2;
  // Fewer pages than this sent in a round: Xen's stop rule, and the point
  // below which a round sends its deferred pages too.
  std::uint64_t min_round_pages = 50;
  // After a round whose leftovers fit the budget, go on while the pages it
  // newly dirtied (not held) are fewer than converge_ratio x the previous
  // round's (and more than min_round_pages).
  double converge_ratio = 0.5;
};

// Bytes one page costs on the wire (PAGE record: be64 header + 4096).
inline constexpr std::uint64_t kPageWireBytes = DPDC_PAGE_SIZE + 8;

// The page's dirty rate in events per second: count / tracked_s, or 0 with
// fewer than min_events events. Pure (exposed for tests and docs).
double page_dirty_rate(const dpdc_page& page, double tracked_s, std::uint32_t min_events);

// How long the tracker has been watching the guest, estimated from the
// records alone (they do not say when tracking began): the longer of
//   - now minus the earliest dirty time any record remembers (prev_ns of a
//     page with two or more events, else last_ns), and
//   - the busiest page's events minus one, times the shortest interval any
//     record shows between its last two events (a page cannot be reported
//     twice within one re-protection period), at most now_ns.
// 0 when no page has an event yet. Pure.
std::uint64_t tracked_time_ns(std::span<const dpdc_page> history, std::uint64_t now_ns);

class DpdcPolicy final : public Policy {
 public:
  explicit DpdcPolicy(const PolicyOptions& options);
  DpdcPolicy(const PolicyOptions& options, const DpdcParams& params);
  std::string_view name() const override { return "dpdc"; }
  void plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) override;
  bool skip_in_flight(std::uint64_t page, const Bitmap& dirtied_now) const override;
  StopDecision finish_round(const RoundResult& round, const MigrationTotals& totals) override;
  nlohmann::json describe() const override;

  const DpdcParams& params() const { return params_; }
  // What the last plan() decided, for tests and the statistics.
  std::uint64_t last_budget_pages() const { return budget_pages_; }
  std::uint64_t last_final_pages() const { return final_pages_; }
  std::uint64_t last_deferred_pages() const { return deferred_pages_; }
  double last_round_s() const { return round_s_; }
  double last_mean_rate() const { return mean_rate_; }
  double last_history_resolution_hz() const { return last_resolution_hz_; }
  // The pages of the last plan's `hold` that are final (kept for the
  // stop-and-copy round); every other held page was deferred. Sized like
  // `hold`. The heatmap (sim/heatmap.h) draws the two apart from this.
  const Bitmap& last_final() const { return final_; }

 private:
  DpdcParams params_;
  bool started_ = false;
  std::uint64_t tracking_start_ns_ = 0;  // now - tracked_time_ns at the first plan
  std::uint64_t budget_pages_ = 0;
  std::uint64_t final_pages_ = 0;
  std::uint64_t deferred_pages_ = 0;
  Bitmap final_;
  double round_s_ = 0;
  double mean_rate_ = 0;
  double last_resolution_hz_ = 0;
  std::uint64_t prev_fresh_ = 0;  // pages newly dirtied (not held) in the previous round
};

}  // namespace dpdc
