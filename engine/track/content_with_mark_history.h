#pragma once
// Dirtiness of a QEMU/KVM guest that keeps KVM's dirty bitmap (no ring):
// page contents for correctness, the tracker's marks for prediction.
//
// The tracker in mark mode (bpf/dirty_track_mark.bpf.h) sees each page the
// first time it is written after QEMU re-protected it. That is history
// enough for a policy to tell hot pages from cold ones, but it cannot prove
// a copy: QEMU re-protects only inside its own runs of `calc-dirty-rate`
// (qemu/qemu_bitmap_syncs.h), logging is off between two runs, and KVM
// rebuilds huge writable mappings when it goes off, so a write there may
// never be logged at all. So every decision that needs "this copy is
// current" is the content source's (content_dirty_source.h), with its
// scans of all RAM; the policies plan from the marks.
#include <functional>
#include <utility>

#include "loader/dirty_track_loader.h"
#include "track/content_dirty_source.h"

namespace dpdc {

class ContentWithMarkHistory final : public DirtySource {
 public:
  // `resolution_hz`: how often a page can be marked (the re-protection runs
  // per second so far).
  ContentWithMarkHistory(ContentDirtySource& content, const DirtyTracker& tracker,
                         std::function<double()> resolution_hz)
      : content_(content), tracker_(tracker), resolution_hz_(std::move(resolution_hz)) {}

  void collect(Bitmap& out, Scan scan) override { content_.collect(out, scan); }
  std::span<const dpdc_page> history() override { return tracker_.pages(); }
  double history_resolution_hz() override { return resolution_hz_ ? resolution_hz_() : 0; }
  void before_reads() override { content_.before_reads(); }
  bool sent(std::uint64_t page, std::span<const std::uint8_t> bytes) override { return content_.sent(page, bytes); }
  void guest_stopped() override { content_.guest_stopped(); }
  void start_last_collect(Bitmap& out) override { content_.start_last_collect(out); }
  void finish_last_collect() override { content_.finish_last_collect(); }
  bool known_zero(std::uint64_t page) const override { return content_.known_zero(page); }

 private:
  ContentDirtySource& content_;
  const DirtyTracker& tracker_;
  std::function<double()> resolution_hz_;
};

}  // namespace dpdc
