#pragma once
// Dirtiness from the in-kernel tracker on KVM's dirty ring.
//
// The no-lost-write rule lives here (see page_proven()): a page's contents
// count only if they were read after KVM re-protected the page following its
// last push and flushed the TLBs; otherwise the page is sent again later.
#include <cstdint>
#include <vector>

#include "dirty_source.h"
#include "dirty_track_loader.h"

namespace dpdc {

// True when `page`'s contents, read after `ring` was sampled, cannot be
// overwritten without a new push. For a page with no push since the tracker
// attached, its last push (if any) predates the tracker: every ring must have
// been reset and flushed since, i.e. reset twice (`all_rings_reset_twice`).
bool page_proven(const dpdc_page& page, const dpdc_ring& ring, bool all_rings_reset_twice);

class RingDirtySource final : public DirtySource {
 public:
  RingDirtySource(DirtyTracker& tracker, std::uint32_t vcpus);

  void collect(Bitmap& out, Scan scan) override;
  std::span<const dpdc_page> history() override { return tracker_.pages(); }
  void before_reads() override;
  bool sent(std::uint64_t page, std::span<const std::uint8_t> bytes) override;
  void guest_stopped() override { stopped_ = true; }

 private:
  DirtyTracker& tracker_;
  std::uint32_t vcpus_;
  std::vector<dpdc_ring> rings_;
  bool rings_reset_twice_ = false;
  bool stopped_ = false;
};

}  // namespace dpdc
