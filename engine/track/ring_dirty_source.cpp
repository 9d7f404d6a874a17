#include "track/ring_dirty_source.h"

#include <algorithm>
#include <atomic>

namespace dpdc {

bool page_proven(const dpdc_page& page, std::span<const dpdc_ring> rings, bool all_rings_reset_twice) {
  if (page.count == 0) return all_rings_reset_twice;
  // u32 serial arithmetic: ring indices and reset generations wrap.
  if (page.last_ring == DPDC_RING_ANY) {
    if (rings.empty()) return false;
    for (const dpdc_ring& r : rings) {
      if (static_cast<std::int32_t>(r.reset_gen[2] - page.ring_pos) <= 0) return false;
    }
    return true;
  }
  if (page.last_ring >= rings.size()) return false;
  return static_cast<std::int32_t>(rings[page.last_ring].flushed_index - page.ring_pos) >= 0;
}

RingDirtySource::RingDirtySource(DirtyTracker& tracker, std::uint32_t vcpus, bool logging_began_attached)
    : tracker_(tracker), vcpus_(vcpus ? vcpus : 1), untouched_proven_(logging_began_attached) {
  first_seen_.resize(vcpus_);
  for (std::uint32_t i = 0; i < vcpus_; ++i) first_seen_[i] = tracker_.ring(i).value_or(dpdc_ring{});
}

double fastest_reset_rate_hz(std::span<const dpdc_ring> then, std::span<const dpdc_ring> now) {
  double fastest = 0;
  for (std::size_t i = 0; i < std::min(then.size(), now.size()); ++i) {
    const dpdc_ring& a = then[i];
    const dpdc_ring& b = now[i];
    if (a.resets == 0 || b.resets <= a.resets || b.last_reset_ns <= a.last_reset_ns) continue;
    fastest = std::max(fastest, static_cast<double>(b.resets - a.resets) * 1e9 /
                                    static_cast<double>(b.last_reset_ns - a.last_reset_ns));
  }
  return fastest;
}

double RingDirtySource::history_resolution_hz() {
  // Measured up to the latest collect(): the driver plans right after one.
  for (std::size_t i = 0; i < std::min(first_seen_.size(), collected_rings_.size()); ++i) {
    // A ring not reset yet when the source began is measured from its first reset.
    if (first_seen_[i].resets == 0) first_seen_[i] = collected_rings_[i];
  }
  return fastest_reset_rate_hz(first_seen_, collected_rings_);
}

void RingDirtySource::collect(Bitmap& out, Scan scan) {
  // Pushes whose tracepoint call skipped the program are accounted first, so
  // the bits taken below hold every push made so far. A Peek may skip it:
  // the next Complete collection catches up.
  const std::uint32_t unseen = scan == Scan::Complete ? tracker_.sync(vcpus_) : 0;
  auto words = tracker_.dirty_words();
  const std::size_t n = std::min(words.size(), out.words());
  for (std::size_t i = 0; i < n; ++i) {
    // Take the word: a push between the load and the store would otherwise be lost.
    std::uint64_t bits = std::atomic_ref<std::uint64_t>(words[i]).exchange(0, std::memory_order_acq_rel);
    if (bits) out.or_word(i, bits);
  }
  // The rings as of this collection, for awaiting_reset() and the history's
  // resolution until the next one.
  sample_rings(collected_rings_, collected_twice_);
  // Entries KVM overwrote before the programs could account them name pages
  // no one knows: every page may be dirty. Likewise, with the guest stopped,
  // a vCPU ring the programs never saw may hold pushes that sync() cannot
  // reach, if a call was ever skipped (otherwise it holds none: an idle
  // guest's vCPU pushes nothing and must not cost a resend of all RAM).
  const std::uint64_t lost = tracker_.counters().lost;
  if (lost != lost_seen_ || (stopped_ && unseen > 0 && tracker_.skipped_calls() > 0)) {
    lost_seen_ = lost;
    out.fill();
  }
}

// The rings are sampled before any page of the batch is read, so a reset
// seen here happened before the read: the order the no-lost-write rule needs.
void RingDirtySource::before_reads() {
  if (stopped_) return;
  sample_rings(rings_, rings_reset_twice_);
}

void RingDirtySource::sample_rings(std::vector<dpdc_ring>& rings, bool& reset_twice) const {
  rings.resize(vcpus_);
  bool twice = true;
  for (std::uint32_t i = 0; i < vcpus_; ++i) {
    rings[i] = tracker_.ring(i).value_or(dpdc_ring{});
    twice = twice && rings[i].resets >= 2;
  }
  reset_twice = twice || untouched_proven_;
}

dpdc_page RingDirtySource::page_record(std::uint64_t page) const {
  // The ring and the position are one 64-bit store in the kernel: load them at once.
  dpdc_page rec = tracker_.pages()[page];
  rec.record = std::atomic_ref<const std::uint64_t>(tracker_.pages()[page].record).load(std::memory_order_acquire);
  return rec;
}

bool RingDirtySource::sent(std::uint64_t page, std::span<const std::uint8_t>) {
  if (stopped_) return true;
  return page_proven(page_record(page), rings_, rings_reset_twice_);
}

bool RingDirtySource::awaiting_reset(std::uint64_t page) const {
  if (stopped_ || collected_rings_.empty()) return false;
  return !page_proven(page_record(page), collected_rings_, collected_twice_);
}

std::uint64_t RingDirtySource::reprotections() {
  std::uint64_t resets = 0;
  for (std::uint32_t i = 0; i < vcpus_; ++i) resets += tracker_.ring(i).value_or(dpdc_ring{}).resets;
  return resets;
}

}  // namespace dpdc
