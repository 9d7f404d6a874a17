#include "policy/policy_qemu.h"

namespace dpdc {

void QemuPolicy::plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) {
  send = *in.candidates;
  hold.clear();
}

double QemuPolicy::threshold_bytes(double bandwidth_bytes_per_s, std::uint64_t downtime_limit_ms) {
  return bandwidth_bytes_per_s * static_cast<double>(downtime_limit_ms) / 1000.0;
}

StopDecision QemuPolicy::finish_round(const RoundResult& round, const MigrationTotals&) {
  double pending = static_cast<double>(round.dirty_after) * DPDC_PAGE_SIZE;
  double threshold = threshold_bytes(round.bandwidth_bytes_per_s, options_.downtime_limit_ms);
  if (pending <= threshold) {
    return {true, "dirty bytes left fit in bandwidth x downtime limit (" + std::to_string(static_cast<std::uint64_t>(pending)) +
                      " <= " + std::to_string(static_cast<std::uint64_t>(threshold)) + ")"};
  }
  if (options_.max_rounds && round.round >= options_.max_rounds) {
    return {true, "reached the engine's limit of " + std::to_string(options_.max_rounds) + " rounds"};
  }
  return {};
}

nlohmann::json QemuPolicy::describe() const {
  return {{"name", "qemu"}, {"downtime_limit_ms", options_.downtime_limit_ms}, {"max_rounds", options_.max_rounds}};
}

}  // namespace dpdc
