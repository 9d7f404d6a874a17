#pragma once
// Re-protections for a QEMU that keeps KVM's dirty bitmap (no dirty ring),
// for as long as the engine is attached, without QEMU's own migration.
//
// In bitmap mode KVM logs a page (and the tracker's mark program sees it,
// bpf/dirty_track_mark.bpf.h) only on the first write after the page was
// re-protected, and only while dirty logging is on. QEMU 7.2 turns logging
// on with every page's bit set (KVM_DIRTY_LOG_INITIALLY_SET) and
// re-protects a page only when it clears its bit (KVM_CLEAR_DIRTY_LOG); a
// dirty limit, which keeps logging on in ring mode, needs a ring. What does
// both, with no migration: `calc-dirty-rate mode=dirty-bitmap` turns logging
// on, clears every slot whole (every page re-protected), sleeps calc-time
// seconds, reads the log, and turns logging off again. This object runs it
// back to back with calc-time 1 s: each page can be logged about once a
// second, and between two runs (the time of a QMP round trip or two)
// logging is off and writes go unseen. That is why bitmap mode uses the
// history for prediction only and page content for correctness
// (track/content_with_mark_history.h). docs/qemu.md measures what it costs
// the guest.
//
// The engine cannot issue the ioctls itself: KVM refuses a VM's ioctls from
// any process but the one that created it.
//
// Exits: nothing to restore. A run ends by itself within calc-time, and
// QEMU turns logging off then, whether the engine is still there or not;
// the destructor waits for that, so that an engine that exits leaves
// logging off, as it was.
#include <cstdint>
#include <functional>

#include "qemu/qmp_client.h"

namespace dpdc {

class QemuBitmapSyncs {
 public:
  // Starts the first run. A measurement already under way (someone's, or a
  // killed engine's last run) is waited for, up to kWaitForOthersS. Throws
  // Error(Target) when QEMU cannot measure in bitmap mode (older than 7.1,
  // or it has a dirty ring) or another measurement does not end.
  QemuBitmapSyncs(QmpClient& qmp, std::function<std::uint64_t()> now_ns);
  ~QemuBitmapSyncs();
  QemuBitmapSyncs(const QemuBitmapSyncs&) = delete;
  QemuBitmapSyncs& operator=(const QemuBitmapSyncs&) = delete;

  // Call often (every 100 ms or so), on the thread that uses `qmp`: once
  // the current run should be over, asks QEMU, and starts the next run when
  // it is. Stops starting runs after stop(). A QMP error ends the loop
  // quietly: history only thins out, and correctness does not depend on it.
  void tick();
  // No run is started after this.
  void stop() noexcept { stopped_ = true; }
  // stop(), then waits (up to calc-time + 2 s) until QEMU's current run is
  // over, logging with it. Before the switchover, so that QEMU's migration
  // never runs beside a measurement that clears KVM's dirty log. Never throws.
  void finish() noexcept;

  std::uint64_t runs_started() const noexcept { return started_; }
  // Completed runs per second since the first began: how often a page can be
  // logged (DirtySource::history_resolution_hz); 0 until a run completed.
  double runs_per_s() const noexcept;

  static constexpr int kCalcTimeS = 1;
  static constexpr int kWaitForOthersS = 65;  // calc-time is at most 60 s

 private:
  void start_run();
  QmpClient& qmp_;
  std::function<std::uint64_t()> now_ns_;
  std::uint64_t first_start_ns_ = 0;
  std::uint64_t run_start_ns_ = 0;
  std::uint64_t last_done_ns_ = 0;
  std::uint64_t started_ = 0;
  std::uint64_t completed_ = 0;
  bool running_ = false;
  bool stopped_ = false;
  bool failed_ = false;
};

}  // namespace dpdc
