#include "ring_dirty_source.h"

#include <atomic>

namespace dpdc {

bool page_proven(const dpdc_page& page, const dpdc_ring& ring, bool all_rings_reset_twice) {
  if (page.count == 0) return all_rings_reset_twice;
  // u32 serial arithmetic: the ring indices wrap.
  return static_cast<std::int32_t>(ring.flushed_index - page.ring_pos) >= 0;
}

RingDirtySource::RingDirtySource(DirtyTracker& tracker, std::uint32_t vcpus)
    : tracker_(tracker), vcpus_(vcpus ? vcpus : 1) {}

void RingDirtySource::collect(Bitmap& out, Scan) {
  auto words = tracker_.dirty_words();
  const std::size_t n = std::min(words.size(), out.words());
  for (std::size_t i = 0; i < n; ++i) {
    // Take the word: a push between the load and the store would otherwise be lost.
    std::uint64_t bits = std::atomic_ref<std::uint64_t>(words[i]).exchange(0, std::memory_order_acq_rel);
    if (bits) out.or_word(i, bits);
  }
}

// The rings are sampled before any page of the batch is read, so a reset
// seen here happened before the read: the order the no-lost-write rule needs.
void RingDirtySource::before_reads() {
  if (stopped_) return;
  rings_.resize(vcpus_);
  bool twice = true;
  for (std::uint32_t i = 0; i < vcpus_; ++i) {
    rings_[i] = tracker_.ring(i).value_or(dpdc_ring{});
    twice = twice && rings_[i].resets >= 2;
  }
  rings_reset_twice_ = twice;
}

bool RingDirtySource::sent(std::uint64_t page, std::span<const std::uint8_t>) {
  if (stopped_) return true;
  const dpdc_page& rec = tracker_.pages()[page];
  const dpdc_ring& ring = rec.last_ring < rings_.size() ? rings_[rec.last_ring] : dpdc_ring{};
  return page_proven(rec, ring, rings_reset_twice_);
}

}  // namespace dpdc
