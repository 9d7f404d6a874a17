#include "live_world.h"

#include <atomic>

#include "dpdc/clock.h"
#include "dpdc/error.h"
#include "stop_flag.h"

namespace dpdc {

bool page_proven(const dpdc_page& page, const dpdc_ring& ring, bool all_rings_reset_twice) {
  if (page.count == 0) return all_rings_reset_twice;
  // u32 serial arithmetic: the ring indices wrap.
  return static_cast<std::int32_t>(ring.flushed_index - page.ring_pos) >= 0;
}

LiveWorld::LiveWorld(DirtyTracker& tracker, std::span<const std::uint8_t> ram, stream::StreamWriter& writer,
                     GuestControl& guest, const LiveWorldOptions& options)
    : tracker_(tracker), ram_(ram), writer_(writer), guest_(guest), options_(options) {
  if (ram_.size() % DPDC_PAGE_SIZE != 0 || ram_.size() / DPDC_PAGE_SIZE > tracker_.pages().size()) {
    throw Error(ErrorKind::Runtime, "the guest RAM mapping does not match the tracker's page map");
  }
  if (options_.vcpus == 0) options_.vcpus = 1;
}

std::uint64_t LiveWorld::now_ns() { return monotonic_ns(); }

void LiveWorld::collect_dirty(Bitmap& out) {
  auto words = tracker_.dirty_words();
  const std::size_t n = std::min(words.size(), out.words());
  for (std::size_t i = 0; i < n; ++i) {
    // Take the word: a push between the load and the store would otherwise be lost.
    std::uint64_t bits = std::atomic_ref<std::uint64_t>(words[i]).exchange(0, std::memory_order_acq_rel);
    if (bits) out.or_word(i, bits);
  }
}

void LiveWorld::begin_round(std::uint32_t, bool final_round) {
  if (final_round) {
    writer_.ram_begin_final();
  } else {
    writer_.ram_begin_iteration();
  }
}

void LiveWorld::end_round(std::uint32_t, bool) { writer_.ram_end_iteration(); }

void LiveWorld::sample_rings() {
  rings_.resize(options_.vcpus);
  bool twice = true;
  for (std::uint32_t i = 0; i < options_.vcpus; ++i) {
    rings_[i] = tracker_.ring(i).value_or(dpdc_ring{});
    twice = twice && rings_[i].resets >= 2;
  }
  rings_reset_twice_ = twice;
}

std::uint64_t LiveWorld::send_pages(std::span<const std::uint64_t> pages, Bitmap& unproven) {
  if (!stopped_ && options_.interrupt && options_.interrupt->raised()) {
    throw Error(ErrorKind::Interrupted, "interrupted before the switchover; the source guest keeps running");
  }
  const std::uint64_t before = writer_.bytes_written();
  // The rings are sampled before any page is read, so a reset seen here
  // happened before the read: the order the no-lost-write rule needs.
  if (!stopped_) sample_rings();
  const auto history = tracker_.pages();
  for (std::uint64_t p : pages) {
    if (!stopped_) {
      const dpdc_page& rec = history[p];
      const dpdc_ring& ring = rec.last_ring < rings_.size() ? rings_[rec.last_ring] : dpdc_ring{};
      if (!page_proven(rec, ring, rings_reset_twice_)) unproven.set(p);
    }
    writer_.ram_page(options_.block, options_.block_offset + p * DPDC_PAGE_SIZE,
                     ram_.subspan(p * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE));
  }
  return writer_.bytes_written() - before;
}

void LiveWorld::stop_guest() {
  guest_.stop();
  stopped_ = true;
}

}  // namespace dpdc
