#include "policy/policy_dpdc.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "policy/policy_qemu.h"

namespace dpdc {

double page_dirty_rate(const dpdc_page& page, double tracked_s, std::uint32_t min_events) {
  if (page.count < std::max<std::uint32_t>(min_events, 1) || !(tracked_s > 0)) return 0;
  return static_cast<double>(page.count) / tracked_s;
}

std::uint64_t tracked_time_ns(std::span<const dpdc_page> history, std::uint64_t now_ns) {
  std::uint64_t earliest = now_ns, shortest = UINT64_MAX;
  std::uint32_t busiest = 0;
  for (const dpdc_page& h : history) {
    if (h.count == 0) continue;
    const bool two = h.count >= 2 && h.prev_ns != 0 && h.last_ns >= h.prev_ns;
    earliest = std::min<std::uint64_t>(earliest, two ? h.prev_ns : h.last_ns);
    if (two) shortest = std::min<std::uint64_t>(shortest, h.last_ns - h.prev_ns);
    busiest = std::max(busiest, h.count);
  }
  const std::uint64_t since_earliest = now_ns - std::min(now_ns, earliest);
  // Never more than now: the clock started before the tracker (and no overflow).
  std::uint64_t busiest_span = 0;
  if (shortest != UINT64_MAX && shortest > 0) {
    busiest_span = busiest - 1 > now_ns / shortest ? now_ns : std::uint64_t{busiest - 1} * shortest;
  }
  return std::max(since_earliest, busiest_span);
}

DpdcPolicy::DpdcPolicy(const PolicyOptions& options) : DpdcPolicy(options, DpdcParams{}) {}

DpdcPolicy::DpdcPolicy(const PolicyOptions& options, const DpdcParams& params) : params_(params) {
  params_.downtime_limit_ms = options.downtime_limit_ms;
  params_.max_rounds = options.max_rounds ? options.max_rounds : params_.max_rounds;
  params_.expected_bandwidth_bytes_per_s = options.expected_bandwidth_bytes_per_s;
}

void DpdcPolicy::plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) {
  send.clear();
  hold.clear();
  if (final_.size() != hold.size()) final_ = Bitmap(hold.size());
  final_.clear();
  double bw = in.bandwidth_bytes_per_s > 0 ? in.bandwidth_bytes_per_s : params_.expected_bandwidth_bytes_per_s;
  if (!(bw > 0)) bw = 134217728.0;
  const double page_s = static_cast<double>(kPageWireBytes) / bw;
  const double downtime_s = static_cast<double>(params_.downtime_limit_ms) / 1000.0;
  budget_pages_ = static_cast<std::uint64_t>(QemuPolicy::threshold_bytes(bw, params_.downtime_limit_ms) /
                                             static_cast<double>(kPageWireBytes));
  final_pages_ = deferred_pages_ = 0;

  const std::span<const dpdc_page> h = in.history;
  if (!started_) {
    started_ = true;
    tracking_start_ns_ = in.now_ns - std::min(in.now_ns, tracked_time_ns(h, in.now_ns));
  }
  const double tracked_s =
      std::max(static_cast<double>(params_.min_tracked_ms) / 1000.0,
               static_cast<double>(in.now_ns - std::min(in.now_ns, tracking_start_ns_)) / 1e9);
  double events = 0;
  for (const dpdc_page& p : h) events += p.count;
  mean_rate_ = h.empty() ? 0 : events / tracked_s / static_cast<double>(h.size());
  double final_rate = downtime_s > 0 ? params_.final_events / downtime_s : 0;
  // A history that records a page at most r times a second cannot show a
  // rate above r: a page recorded at nearly every chance is as hot as can be
  // seen, and is held like one whose rate proves it hot.
  if (in.history_resolution_hz > 0 && params_.saturated_fraction > 0) {
    const double saturated = params_.saturated_fraction * in.history_resolution_hz;
    final_rate = final_rate > 0 ? std::min(final_rate, saturated) : saturated;
  }
  last_resolution_hz_ = in.history_resolution_hz;
  const double warm_rate = params_.warm_factor * mean_rate_;

  // (rate, page) of the hot and the warm candidates; the rest is sent.
  std::vector<std::pair<double, std::uint64_t>> hot, warm;
  const std::uint64_t candidates = in.candidates->count();
  in.candidates->for_each([&](std::size_t p) {
    const double rate = p < h.size() ? page_dirty_rate(h[p], tracked_s, params_.min_events) : 0;
    if (rate > 0 && final_rate > 0 && rate >= final_rate) {
      hot.emplace_back(rate, p);
    } else if (rate > 0 && rate >= warm_rate) {
      warm.emplace_back(rate, p);
    } else {
      send.set(p);
    }
  });
  auto hottest_first = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  std::sort(hot.begin(), hot.end(), hottest_first);
  if (hot.size() > budget_pages_) {
    // Only the hottest fit the stop-and-copy budget; the others are warm.
    warm.insert(warm.end(), hot.begin() + static_cast<std::ptrdiff_t>(budget_pages_), hot.end());
    hot.resize(budget_pages_);
  }
  std::sort(warm.begin(), warm.end(), hottest_first);

  // Defer the hottest warm pages while the coolest of them would still be
  // dirtied again, on average, defer_events times while the round is sent.
  // Deferring one more page shortens the round by one page, so the test is
  // monotone: the first page that fails ends the prefix.
  const double sendable = static_cast<double>(candidates - hot.size());
  std::size_t defer = 0;
  for (std::size_t i = 0; i < warm.size(); ++i) {
    const double round_s = (sendable - static_cast<double>(i + 1)) * page_s;
    if (warm[i].first * round_s < params_.defer_events) break;
    defer = i + 1;
  }
  if (sendable - static_cast<double>(defer) < static_cast<double>(params_.min_round_pages)) defer = 0;
  round_s_ = (sendable - static_cast<double>(defer)) * page_s;

  for (const auto& x : hot) {
    hold.set(x.second);
    final_.set(x.second);
  }
  for (std::size_t i = 0; i < warm.size(); ++i) (i < defer ? hold : send).set(warm[i].second);
  final_pages_ = hot.size();
  deferred_pages_ = defer;
}

bool DpdcPolicy::skip_in_flight(std::uint64_t page, const Bitmap& dirtied_now) const { return dirtied_now.test(page); }

StopDecision DpdcPolicy::finish_round(const RoundResult& round, const MigrationTotals& totals) {
  const double left = static_cast<double>(round.dirty_after) * DPDC_PAGE_SIZE;  // held pages included
  const double threshold = QemuPolicy::threshold_bytes(round.bandwidth_bytes_per_s, params_.downtime_limit_ms);
  // Dirtied during the round, skipped or sent unproven: what the round left behind besides the held pages.
  const std::uint64_t fresh = round.dirty_after > round.held ? round.dirty_after - round.held : 0;
  const bool converging = fresh > params_.min_round_pages &&
                          static_cast<double>(fresh) < params_.converge_ratio * static_cast<double>(prev_fresh_);
  prev_fresh_ = fresh;
  if (left <= threshold && !converging) return {true, "what is left fits bandwidth x downtime limit"};
  if (round.round >= params_.max_rounds) return {true, "reached " + std::to_string(params_.max_rounds) + " rounds"};
  if (round.sent + round.skipped < params_.min_round_pages) {
    return {true, "fewer than " + std::to_string(params_.min_round_pages) + " pages sent and skipped in the round"};
  }
  if (totals.sent > 3 * totals.total_pages) return {true, "sent more than 3x the guest's pages"};
  return {};
}

nlohmann::json DpdcPolicy::describe() const {
  return {{"name", "dpdc"},
          {"version", 2},
          {"downtime_limit_ms", params_.downtime_limit_ms},
          {"max_rounds", params_.max_rounds},
          {"expected_bandwidth_bytes_per_s", params_.expected_bandwidth_bytes_per_s},
          {"min_events", params_.min_events},
          {"min_tracked_ms", params_.min_tracked_ms},
          {"final_events", params_.final_events},
          {"saturated_fraction", params_.saturated_fraction},
          {"warm_factor", params_.warm_factor},
          {"defer_events", params_.defer_events},
          {"min_round_pages", params_.min_round_pages},
          {"converge_ratio", params_.converge_ratio},
          {"last_budget_pages", budget_pages_},
          {"last_final_pages", final_pages_},
          {"last_deferred_pages", deferred_pages_},
          {"last_round_ms", round_s_ * 1000.0},
          {"last_mean_rate_per_s", mean_rate_},
          {"last_history_resolution_hz", last_resolution_hz_}};
}

}  // namespace dpdc
