#pragma once
// QEMU's pre-copy rule (migration/migration.c, migration/ram.c): every round
// sends every dirty page; iteration stops as soon as the dirty bytes left fit
// in what the measured bandwidth moves within the downtime limit (300 ms by
// default). QEMU itself has no round limit; max_rounds (0 = none) is the
// engine's safety net for guests that never converge.
#include "policy/policy.h"

namespace dpdc {

class QemuPolicy final : public Policy {
 public:
  explicit QemuPolicy(const PolicyOptions& options) : options_(options) {}
  std::string_view name() const override { return "qemu"; }
  void plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) override;
  StopDecision finish_round(const RoundResult& round, const MigrationTotals& totals) override;
  nlohmann::json describe() const override;

  // Bytes that may be left for the stop-and-copy round.
  static double threshold_bytes(double bandwidth_bytes_per_s, std::uint64_t downtime_limit_ms);

 private:
  PolicyOptions options_;
};

}  // namespace dpdc
