#pragma once
// Dirtiness from the in-kernel tracker on KVM's dirty ring.
//
// The no-lost-write rule lives here (see page_proven()): a page's contents
// count only if they were read after KVM re-protected the page following its
// last push and flushed the TLBs; otherwise the page is sent again later.
#include <cstdint>
#include <span>
#include <vector>

#include "loader/dirty_track_loader.h"
#include "track/dirty_source.h"

namespace dpdc {

// True when `page`'s contents, read after `rings` (the VMM's vCPU rings,
// by index) were sampled, cannot be overwritten without a new push:
//  - a push accounted in time on ring r: once rings[r] has flushed past it;
//  - a push accounted late (DPDC_RING_ANY, see struct dpdc_page): once every
//    ring has been reset three times since;
//  - no push since the tracker attached: its last push (if any) predates the
//    tracker, so every ring must have been reset and flushed since, i.e.
//    reset twice (`all_rings_reset_twice`).
// A push on a ring outside `rings` is never proven.
bool page_proven(const dpdc_page& page, std::span<const dpdc_ring> rings, bool all_rings_reset_twice);

// Resets per second of the fastest ring between two samples of the same
// rings, measured from reset to reset in the kernel's clock (last_reset_ns);
// a ring not reset before `then` or not since counts as unknown. 0 when no
// ring tells. Pure.
double fastest_reset_rate_hz(std::span<const dpdc_ring> then, std::span<const dpdc_ring> now);

class RingDirtySource final : public DirtySource {
 public:
  // `logging_began_attached`: KVM's dirty logging was off until after the
  // tracker attached (the engine itself turned it on, qemu_dirty_logging.h).
  // Turning it on write-protects every page of every memslot before the
  // ioctl returns, so a page with no push since is clean from the first
  // read: the two-reset wait for untouched pages is not needed.
  RingDirtySource(DirtyTracker& tracker, std::uint32_t vcpus, bool logging_began_attached = false);

  void collect(Bitmap& out, Scan scan) override;
  std::span<const dpdc_page> history() override { return tracker_.pages(); }
  void before_reads() override;
  bool sent(std::uint64_t page, std::span<const std::uint8_t> bytes) override;
  void guest_stopped() override { stopped_ = true; }
  // The fastest vCPU ring's resets per second from the source's start to the
  // latest collect(), measured between reset events in the kernel's clock.
  double history_resolution_hz() override;
  // !page_proven() against the rings as of the latest collect().
  bool awaiting_reset(std::uint64_t page) const override;
  std::uint64_t reprotections() override;

 private:
  DirtyTracker& tracker_;
  std::uint32_t vcpus_;
  std::vector<dpdc_ring> rings_;
  bool untouched_proven_ = false;  // logging began after the tracker attached
  bool rings_reset_twice_ = false;
  bool stopped_ = false;
  std::uint64_t lost_seen_ = 0;  // counters().lost already answered by marking every page
  std::vector<dpdc_ring> first_seen_;  // each ring as of the source's start
  // The rings as of the latest collect(), for awaiting_reset() and
  // history_resolution_hz(). For the former only ever
  // older than the sample before_reads() takes for the proof itself, so a
  // page judged provable here may still turn out unproven (and is sent
  // again), never the reverse.
  std::vector<dpdc_ring> collected_rings_;
  bool collected_twice_ = false;
  dpdc_page page_record(std::uint64_t page) const;
  void sample_rings(std::vector<dpdc_ring>& rings, bool& reset_twice) const;
};

}  // namespace dpdc
