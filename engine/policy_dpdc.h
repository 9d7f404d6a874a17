#pragma once
// Dirty Pages Delayed Copy, first version. Each round every candidate page
// gets a state from its in-kernel history (last two dirty times, count):
//   send  - not expected to be dirtied again before pre-copy ends: send now;
//   delay - expected to be dirtied again within the horizon (its last dirty
//           interval, projected from its last dirty time, falls before the
//           horizon ends): sending it now would be wasted, hold it;
//   a held page that stays clean for twice its interval is sent in a later
//   round; whatever is still held when iteration stops goes in the last round.
// The horizon is the expected time left in pre-copy, taken as two rounds of
// the current length (candidate bytes / measured bandwidth), at least
// min_horizon_ms. Pages dirtied again before their turn in a round are
// skipped as in Xen. Stop rules: Xen's three (30 rounds, < 50 pages sent and
// skipped, 3x guest pages) plus QEMU's (what is left fits bandwidth x
// downtime limit), whichever comes first.
#include <vector>

#include "policy.h"

namespace dpdc {

enum class PageState : std::uint8_t { Send, Delay };

struct DpdcParams {
  std::uint64_t min_horizon_ms = 1000;
  std::uint64_t downtime_limit_ms = 300;
  std::uint32_t max_rounds = 30;
};

// The per-page rule, pure and stateless (exposed for tests and docs).
PageState classify_page(const dpdc_page& page, std::uint64_t now_ns, std::uint64_t horizon_ns);

class DpdcPolicy final : public Policy {
 public:
  explicit DpdcPolicy(const PolicyOptions& options);
  std::string_view name() const override { return "dpdc"; }
  void plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) override;
  bool skip_in_flight(std::uint64_t page, const Bitmap& dirtied_now) const override;
  StopDecision finish_round(const RoundResult& round, const MigrationTotals& totals) override;
  nlohmann::json describe() const override;

  std::uint64_t last_horizon_ns() const { return horizon_ns_; }

 private:
  DpdcParams params_;
  std::uint64_t horizon_ns_ = 0;
};

}  // namespace dpdc
