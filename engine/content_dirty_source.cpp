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
  if (threads_ <= 1 || pages < 4096) {
    scan_range(0, pages, start, out);
  } else {
    // Disjoint page ranges, each with its own bitmap: no shared writes. The
    // ranges are multiples of 64 pages so that bitmap words do not straddle.
    const std::size_t per = (pages / threads_ + 63) & ~std::size_t{63};
    std::vector<Bitmap> parts(threads_, Bitmap(out.size()));
    std::vector<std::thread> workers;
    for (unsigned t = 1; t < threads_; ++t) {
      const std::size_t first = std::min(pages, t * per), last = std::min(pages, (t + 1) * per);
      workers.emplace_back([this, first, last, start, &parts, t] { scan_range(first, last, start, parts[t]); });
    }
    scan_range(0, std::min(pages, per), start, out);
    for (auto& w : workers) w.join();
    for (unsigned t = 1; t < threads_; ++t) out |= parts[t];
  }
  baseline_ = true;
  ++scans_;
  last_scan_end_ = clock_();
  last_scan_ns_ = last_scan_end_ - start;
}

void ContentDirtySource::scan_range(std::size_t first, std::size_t last, std::uint64_t now, Bitmap& out) {
  for (std::size_t p = first; p < last; ++p) {
    const std::uint64_t h = hash_page(ram_.subspan(p * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE));
    if (baseline_ && h != hashes_[p]) {
      dpdc_page& rec = history_[p];
      rec.prev_ns = rec.last_ns;
      rec.last_ns = now;
      rec.count++;
      if (p < out.size()) out.set(p);
    }
    hashes_[p] = h;
  }
}

bool ContentDirtySource::sent(std::uint64_t page, std::span<const std::uint8_t> bytes) {
  hashes_[page] = hash_page(bytes);
  return true;
}

}  // namespace dpdc
