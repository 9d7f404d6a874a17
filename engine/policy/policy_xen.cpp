#include "policy/policy_xen.h"

namespace dpdc {

void XenPolicy::plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) {
  send = *in.candidates;  // to_send
  hold.clear();
}

bool XenPolicy::skip_in_flight(std::uint64_t page, const Bitmap& dirtied_now) const {
  return dirtied_now.test(page);  // to_skip
}

StopDecision XenPolicy::finish_round(const RoundResult& round, const MigrationTotals& totals) {
  // xc_domain_save counts iterations from 1 and stops once iter >= max_iters.
  if (round.round >= kMaxIters) return {true, "reached " + std::to_string(kMaxIters) + " iterations"};
  if (round.sent + round.skipped < kMinPagesPerRound) {
    return {true, "fewer than " + std::to_string(kMinPagesPerRound) + " pages sent and skipped in the round"};
  }
  if (totals.sent > totals.total_pages * kMaxFactor) {
    return {true, "sent more than " + std::to_string(kMaxFactor) + "x the guest's pages"};
  }
  return {};
}

nlohmann::json XenPolicy::describe() const {
  return {{"name", "xen"},
          {"max_iters", kMaxIters},
          {"min_pages_per_round", kMinPagesPerRound},
          {"max_factor", kMaxFactor},
          {"skip_batch_pages", 1024}};
}

}  // namespace dpdc
