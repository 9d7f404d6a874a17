#pragma once
// Dirty Pages Delayed Copy, first version. Each round every candidate page
// gets a state from its in-kernel history (last two dirty times, count):
//   send  - not expected to be dirtied again before pre-copy ends: send now;
//   delay - expected to be dirtied again within the horizon (its last dirty
//           interval, projected from its last dirty time, falls before the
//           horizon ends): sending it now would be wasted, hold it for the
//           stop-and-copy round.
// The stop-and-copy round must send every held page while the guest is
// paused, so the held set is capped at what the link moves within the
// downtime limit; when more pages qualify, those expected soonest are held
// and the others sent. A held page that stays clean for twice its interval
// has broken its pattern and is sent in the next round.
// The horizon is the expected time left in pre-copy, taken as two rounds of
// the current length (candidate bytes / bandwidth), at least min_horizon_ms.
// Pages dirtied again before their turn in a round are skipped as in Xen.
// Stop rules: QEMU's (what is left, held pages included, fits bandwidth x
// downtime limit) and Xen's three (30 rounds, < 50 pages sent and skipped,
// 3x guest pages), whichever comes first.
#include <vector>

#include "policy.h"

namespace dpdc {

enum class PageState : std::uint8_t { Send, Delay };

struct DpdcParams {
  std::uint64_t min_horizon_ms = 1000;
  std::uint64_t downtime_limit_ms = 300;
  std::uint32_t max_rounds = 30;
  double expected_bandwidth_bytes_per_s = 134217728.0;
};

// Bytes one page costs on the wire (PAGE record: be64 header + 4096).
inline constexpr std::uint64_t kPageWireBytes = DPDC_PAGE_SIZE + 8;

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
  std::uint64_t last_budget_pages() const { return budget_pages_; }

 private:
  DpdcParams params_;
  std::uint64_t horizon_ns_ = 0;
  std::uint64_t budget_pages_ = 0;
};

}  // namespace dpdc
