#include "policy_dpdc.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "policy_qemu.h"

namespace dpdc {

PageState classify_page(const dpdc_page& page, std::uint64_t now_ns, std::uint64_t horizon_ns) {
  if (page.count < 2 || page.prev_ns == 0 || page.last_ns < page.prev_ns) return PageState::Send;
  std::uint64_t interval = page.last_ns - page.prev_ns;
  std::uint64_t next = page.last_ns + interval;
  if (next + interval < now_ns) return PageState::Send;  // stayed clean for twice its interval: the pattern broke
  return next <= now_ns + horizon_ns ? PageState::Delay : PageState::Send;
}

DpdcPolicy::DpdcPolicy(const PolicyOptions& options) {
  params_.downtime_limit_ms = options.downtime_limit_ms;
  params_.max_rounds = options.max_rounds ? options.max_rounds : params_.max_rounds;
  params_.expected_bandwidth_bytes_per_s = options.expected_bandwidth_bytes_per_s;
}

void DpdcPolicy::plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) {
  send.clear();
  hold.clear();
  const double bw = in.bandwidth_bytes_per_s > 0 ? in.bandwidth_bytes_per_s : params_.expected_bandwidth_bytes_per_s;
  const double round_s = static_cast<double>(in.candidates->count()) * kPageWireBytes / bw;
  horizon_ns_ = std::max<std::uint64_t>(params_.min_horizon_ms * 1000000ull, static_cast<std::uint64_t>(2.0 * round_s * 1e9));
  budget_pages_ = static_cast<std::uint64_t>(QemuPolicy::threshold_bytes(bw, params_.downtime_limit_ms) /
                                             static_cast<double>(kPageWireBytes));

  // (expected next dirty time, page) of every page the predictor would delay.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> delay;
  in.candidates->for_each([&](std::size_t p) {
    if (p < in.history.size() && classify_page(in.history[p], in.now_ns, horizon_ns_) == PageState::Delay) {
      const dpdc_page& h = in.history[p];
      delay.emplace_back(h.last_ns + (h.last_ns - h.prev_ns), p);
    } else {
      send.set(p);
    }
  });
  if (delay.size() > budget_pages_) {
    // Only the soonest-expected pages fit the stop-and-copy budget.
    auto cut = delay.begin() + static_cast<std::ptrdiff_t>(budget_pages_);
    std::nth_element(delay.begin(), cut, delay.end());
    for (auto it = cut; it != delay.end(); ++it) send.set(it->second);
    delay.erase(cut, delay.end());
  }
  for (const auto& d : delay) hold.set(d.second);
}

bool DpdcPolicy::skip_in_flight(std::uint64_t page, const Bitmap& dirtied_now) const { return dirtied_now.test(page); }

StopDecision DpdcPolicy::finish_round(const RoundResult& round, const MigrationTotals& totals) {
  double left = static_cast<double>(round.dirty_after) * DPDC_PAGE_SIZE;  // held pages included
  double threshold = QemuPolicy::threshold_bytes(round.bandwidth_bytes_per_s, params_.downtime_limit_ms);
  if (left <= threshold) return {true, "what is left fits bandwidth x downtime limit"};
  if (round.round >= params_.max_rounds) return {true, "reached " + std::to_string(params_.max_rounds) + " rounds"};
  if (round.sent + round.skipped < 50) return {true, "fewer than 50 pages sent and skipped in the round"};
  if (totals.sent > 3 * totals.total_pages) return {true, "sent more than 3x the guest's pages"};
  return {};
}

nlohmann::json DpdcPolicy::describe() const {
  return {{"name", "dpdc"},
          {"min_horizon_ms", params_.min_horizon_ms},
          {"expected_bandwidth_bytes_per_s", params_.expected_bandwidth_bytes_per_s},
          {"last_budget_pages", budget_pages_},
          {"downtime_limit_ms", params_.downtime_limit_ms},
          {"max_rounds", params_.max_rounds},
          {"last_horizon_ms", horizon_ns_ / 1'000'000}};
}

}  // namespace dpdc
