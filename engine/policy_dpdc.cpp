#include "policy_dpdc.h"

#include <algorithm>

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
}

void DpdcPolicy::plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) {
  send.clear();
  hold.clear();
  const std::uint64_t min_h = params_.min_horizon_ms * 1'000'000ull;
  double round_s = in.bandwidth_bytes_per_s > 0
                       ? static_cast<double>(in.candidates->count()) * DPDC_PAGE_SIZE / in.bandwidth_bytes_per_s
                       : 0.0;
  horizon_ns_ = std::max(min_h, static_cast<std::uint64_t>(2.0 * round_s * 1e9));
  in.candidates->for_each([&](std::size_t p) {
    bool delay = p < in.history.size() && classify_page(in.history[p], in.now_ns, horizon_ns_) == PageState::Delay;
    (delay ? hold : send).set(p);
  });
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
          {"downtime_limit_ms", params_.downtime_limit_ms},
          {"max_rounds", params_.max_rounds},
          {"last_horizon_ms", horizon_ns_ / 1'000'000}};
}

}  // namespace dpdc
