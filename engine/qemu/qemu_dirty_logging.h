#pragma once
// KVM's dirty logging in an unmodified QEMU, on for as long as the engine is
// attached, without QEMU's own migration.
//
// With a dirty ring, KVM pushes a page only for memslots that have dirty
// logging on (KVM_MEM_LOG_DIRTY_PAGES), and QEMU turns that on only for a
// user of its dirty log: its migration, `calc-dirty-rate`, or a vCPU dirty
// limit. The engine sets a dirty limit that no vCPU can reach
// (`set-vcpu-dirty-limit`, QEMU 7.1 and later, dirty ring only), so QEMU
// keeps logging on and never throttles; `cancel-vcpu-dirty-limit` turns it
// off again. docs/qemu.md says why this mechanism and what it costs.
//
// Exits: the destructor cancels the limit on every path that unwinds
// (success, error, SIGINT, a destination gone). An engine killed outright
// leaves the limit set: the guest runs on unthrottled with logging on (as
// during calc-dirty-rate), and the next attach finds the engine's limit
// (kNeverThrottles) and cancels it first.
#include <cstdint>

#include "qemu/qmp_client.h"

namespace dpdc {

class QemuDirtyLogging {
 public:
  // Throws Error(Target) with what to change when QEMU cannot log (no dirty
  // ring, too old, a dirty limit of someone else's already set). Build it
  // once the tracker is attached: began_logging() is judged then.
  explicit QemuDirtyLogging(QmpClient& qmp);
  ~QemuDirtyLogging();
  QemuDirtyLogging(const QemuDirtyLogging&) = delete;
  QemuDirtyLogging& operator=(const QemuDirtyLogging&) = delete;

  // True when the previous engine's limit was found and cancelled first.
  bool cleared_stale() const noexcept { return cleared_stale_; }
  // True when dirty logging was off until this object turned it on: no
  // other user of QEMU's dirty log (a migration, a calc-dirty-rate under
  // way, a dirty limit) was seen after the tracker had attached. KVM then
  // write-protected every page when logging began, which lets the ring
  // source trust pages with no push at once (ring_dirty_source.h).
  bool began_logging() const noexcept { return began_logging_; }

  // MB/s per vCPU: far above any memory bandwidth, so the limit never
  // throttles, and an unusual number, so a limit left by a killed engine is
  // recognised as the engine's.
  static constexpr std::uint64_t kNeverThrottles = 1'000'003;

 private:
  QmpClient& qmp_;
  bool cleared_stale_ = false;
  bool began_logging_ = false;
};

}  // namespace dpdc
