#pragma once
// Xen 4.1's legacy pre-copy (tools/libxc/xc_domain_save.c), the baseline of
// the DPDC paper:
//   to_send: round 1 every page, then the pages dirtied during the round before;
//   to_skip: a peek at the dirty log, refreshed before every batch of 1,024
//            pages; a page in to_send and to_skip is not sent this round;
//   stop:    after 29 iterations (30 rounds with the last), when fewer than 50
//            pages were sent plus skipped in a round, or when more than 3x the
//            guest's pages have been sent in all.
// Xen's to_fix (pages whose state could not be read) has no counterpart here:
// every page of a KVM guest is readable.
#include "policy/policy.h"

namespace dpdc {

class XenPolicy final : public Policy {
 public:
  static constexpr std::uint32_t kMaxIters = 29;
  static constexpr std::uint64_t kMinPagesPerRound = 50;
  static constexpr std::uint64_t kMaxFactor = 3;

  std::string_view name() const override { return "xen"; }
  void plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) override;
  bool skip_in_flight(std::uint64_t page, const Bitmap& dirtied_now) const override;
  StopDecision finish_round(const RoundResult& round, const MigrationTotals& totals) override;
  nlohmann::json describe() const override;
};

}  // namespace dpdc
