#include "track/content_dirty_source.h"

#include <unistd.h>
#include <xxhash.h>

#include <cerrno>

#include <algorithm>

#include "dpdc/error.h"

namespace dpdc {

ContentDirtySource::ContentDirtySource(std::span<const std::uint8_t> ram, std::function<std::uint64_t()> clock,
                                       int backing_fd)
    : ram_(ram), clock_(std::move(clock)), hashes_(ram.size() / DPDC_PAGE_SIZE), history_(ram.size() / DPDC_PAGE_SIZE),
      backing_fd_(backing_fd), data_(ram.size() / DPDC_PAGE_SIZE) {
  if (ram.size() % DPDC_PAGE_SIZE != 0) {
    throw Error(ErrorKind::Runtime, "guest RAM is not a whole number of 4 KiB pages");
  }
  static const std::vector<std::uint8_t> zeros(DPDC_PAGE_SIZE, 0);
  zero_hash_ = hash_page(zeros);
}

void ContentDirtySource::refresh_holes() {
  if (backing_fd_ < 0) return;
  data_.clear();
  const auto size = static_cast<off_t>(ram_.size());
  off_t pos = 0;
  while (pos < size) {
    const off_t data = ::lseek(backing_fd_, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // no data past pos
      backing_fd_ = -1;           // the file system cannot tell: read everything
      holes_known_ = false;
      return;
    }
    off_t hole = ::lseek(backing_fd_, data, SEEK_HOLE);
    if (hole < 0 || hole > size) hole = size;
    const auto first = static_cast<std::size_t>(data) / DPDC_PAGE_SIZE;
    const auto last = (static_cast<std::size_t>(hole) + DPDC_PAGE_SIZE - 1) / DPDC_PAGE_SIZE;
    for (std::size_t p = first; p < last && p < data_.size(); ++p) data_.set(p);
    pos = hole;
  }
  holes_known_ = true;
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
  refresh_holes();
  if (workers() == 1) {
    scan_range(0, hashes_.size(), start, out);
  } else {
    launch_scan(start, out.size());
    join_scan(out);
  }
  baseline_ = true;
  scan_done(start);
}

unsigned ContentDirtySource::workers() const noexcept { return hashes_.size() < 4096 ? 1u : threads_; }

void ContentDirtySource::launch_scan(std::uint64_t now, std::size_t bits) {
  // Disjoint page ranges, each with its own bitmap: no shared writes. The
  // ranges are multiples of 64 pages so that bitmap words do not straddle.
  const std::size_t pages = hashes_.size();
  const unsigned n = workers();
  const std::size_t per = ((pages + n - 1) / n + 63) & ~std::size_t{63};
  parts_.assign(n, Bitmap(bits));
  for (unsigned t = 0; t < n; ++t) {
    const std::size_t first = std::min(pages, t * per), last = std::min(pages, (t + 1) * per);
    workers_.emplace_back([this, first, last, now, t] { scan_range(first, last, now, parts_[t]); });
  }
}

void ContentDirtySource::join_scan(Bitmap& out) {
  for (auto& w : workers_) w.join();
  workers_.clear();
  for (const auto& part : parts_) out |= part;
  parts_.clear();
}

double ContentDirtySource::history_resolution_hz() {
  if (scans_ < 2 || latest_scan_start_ <= first_scan_start_) return 0;
  return static_cast<double>(scans_ - 1) * 1e9 / static_cast<double>(latest_scan_start_ - first_scan_start_);
}

void ContentDirtySource::scan_done(std::uint64_t start) {
  if (scans_ == 0) first_scan_start_ = start;
  latest_scan_start_ = start;
  ++scans_;
  last_scan_end_ = clock_();
  last_scan_ns_ = last_scan_end_ - start;
}

void ContentDirtySource::scan_range(std::size_t first, std::size_t last, std::uint64_t now, Bitmap& out) {
  for (std::size_t p = first; p < last; ++p) {
    const std::uint64_t h =
        known_zero(p) ? zero_hash_ : hash_page(ram_.subspan(p * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE));
    if (baseline_ && h != hashes_[p]) {
      dpdc_page& rec = history_[p];
      rec.prev_ns = rec.last_ns;
      rec.last_ns = now;
      rec.count++;
      if (p < out.size()) out.set(p);
      if (observer_) observer_(p, now);
    }
    hashes_[p] = h;
  }
}

void ContentDirtySource::assume_destination_zeros() {
  std::fill(hashes_.begin(), hashes_.end(), zero_hash_);
  baseline_ = true;
}

bool ContentDirtySource::sent(std::uint64_t page, std::span<const std::uint8_t> bytes) {
  if (!stopped_) hashes_[page] = hash_page(bytes);
  return true;
}

ContentDirtySource::~ContentDirtySource() {
  for (auto& w : workers_) w.join();
}

void ContentDirtySource::start_last_collect(Bitmap& out) {
  if (!stopped_ || !baseline_) {  // not the last scan after all: do it here and now
    collect(out, Scan::Complete);
    return;
  }
  refresh_holes();  // the last refresh: the map stays as it is from here on
  last_out_ = &out;
  last_start_ = clock_();
  launch_scan(last_start_, out.size());
}

void ContentDirtySource::finish_last_collect() {
  if (!last_out_) return;
  join_scan(*last_out_);
  last_out_ = nullptr;
  scan_done(last_start_);
}

}  // namespace dpdc
