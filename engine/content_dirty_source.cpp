#include "content_dirty_source.h"

#include <xxhash.h>

#include <algorithm>

#include "dpdc/error.h"

namespace dpdc {

ContentDirtySource::ContentDirtySource(std::span<const std::uint8_t> ram, std::function<std::uint64_t()> clock)
    : ram_(ram), clock_(std::move(clock)), hashes_(ram.size() / DPDC_PAGE_SIZE), history_(ram.size() / DPDC_PAGE_SIZE) {
  if (ram.size() % DPDC_PAGE_SIZE != 0) {
    throw Error(ErrorKind::Runtime, "guest RAM is not a whole number of 4 KiB pages");
  }
}

std::uint64_t ContentDirtySource::hash_page(std::span<const std::uint8_t> bytes) noexcept {
  return XXH3_64bits(bytes.data(), bytes.size());
}

void ContentDirtySource::collect(Bitmap& out, Scan scan) {
  const std::uint64_t start = clock_();
  if (scan == Scan::Peek && baseline_) {
    const std::uint64_t min_gap = std::max<std::uint64_t>(10'000'000, 4 * last_scan_ns_);
    if (start - last_scan_end_ < min_gap) return;
  }
  const std::size_t pages = hashes_.size();
  for (std::size_t p = 0; p < pages; ++p) {
    const std::uint64_t h = hash_page(ram_.subspan(p * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE));
    if (baseline_ && h != hashes_[p]) {
      dpdc_page& rec = history_[p];
      rec.prev_ns = rec.last_ns;
      rec.last_ns = start;
      rec.count++;
      if (p < out.size()) out.set(p);
    }
    hashes_[p] = h;
  }
  baseline_ = true;
  ++scans_;
  last_scan_end_ = clock_();
  last_scan_ns_ = last_scan_end_ - start;
}

bool ContentDirtySource::sent(std::uint64_t page, std::span<const std::uint8_t> bytes) {
  hashes_[page] = hash_page(bytes);
  return true;
}

}  // namespace dpdc
