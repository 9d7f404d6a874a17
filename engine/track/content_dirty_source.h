#pragma once
// Dirtiness from page contents: a 64-bit XXH3 hash per guest page, compared
// with the RAM on every scan.
//
// Why it is sound: the hash of a page is what the destination holds (the
// bytes last sent) or what the last scan saw; a scan reports every page whose
// contents differ from its hash and the round driver keeps a reported page a
// candidate until it is sent again. So once the guest is stopped, a Complete
// scan leaves no page whose contents differ from the destination's copy
// without it being sent in the last round, whoever wrote it: a vCPU, device
// emulation, DMA. A write that restores the old bytes goes unseen, and needs
// no sending. Hash collisions (2^-64 per comparison) are the one residual risk.
//
// The cost: every scan reads all of guest RAM. Peeks during a round are
// therefore rate-limited so scanning takes at most a fifth of the time.
// History for the policies has scan granularity: a page's "dirty time" is the
// time of the scan that saw it change.
#include <cstdint>
#include <functional>
#include <span>
#include <thread>
#include <vector>

#include "track/dirty_source.h"

namespace dpdc {

class ContentDirtySource final : public DirtySource {
 public:
  // `ram` must stay mapped for the source's lifetime; `clock` gives CLOCK_MONOTONIC ns.
  // `backing_fd`, if given, is the file mapped as `ram` (kept open by the
  // caller): its holes (SEEK_HOLE) are known to read as zeros and are neither
  // read nor hashed, so that scans neither cost time nor allocate guest memory
  // the guest never touched. The hole map is made once per scan, never per
  // batch of reads: one walk covers the whole file (the kernel visits every
  // page of each data extent), so a walk per batch made a migration's cost
  // grow with the square of the guest's size. The read path asks the file
  // itself, per extent (LiveWorld).
  ContentDirtySource(std::span<const std::uint8_t> ram, std::function<std::uint64_t()> clock, int backing_fd = -1);
  ~ContentDirtySource() override;
  ContentDirtySource(const ContentDirtySource&) = delete;
  ContentDirtySource& operator=(const ContentDirtySource&) = delete;

  void collect(Bitmap& out, Scan scan) override;
  // The last scan on threads of its own. From the stop on, sent() keeps no
  // hashes (no scan follows the last) and the hole map is frozen, so the
  // sending thread touches nothing the scan writes.
  void start_last_collect(Bitmap& out) override;
  void finish_last_collect() override;
  std::span<const dpdc_page> history() override { return history_; }
  bool sent(std::uint64_t page, std::span<const std::uint8_t> bytes) override;
  bool known_zero(std::uint64_t page) const override { return holes_known_ && !data_.test(page); }
  // Once the guest is paused its CPUs are idle and the scan is downtime:
  // scans then use every CPU.
  void guest_stopped() override {
    threads_ = std::max(1u, std::thread::hardware_concurrency());
    stopped_ = true;
    observer_ = nullptr;
  }

  std::uint64_t scans() const noexcept { return scans_; }
  // Scans per second, from the first scan's start to the latest's.
  double history_resolution_hz() override;
  // Called for every change a scan finds while the guest runs (page, the
  // scan's time), on the thread that called collect(): a recording of what
  // this source saw, for replay (attach --to --record). Not called once the
  // guest is stopped.
  void on_change(std::function<void(std::uint64_t page, std::uint64_t t_ns)> observer) {
    observer_ = std::move(observer);
  }

  static std::uint64_t hash_page(std::span<const std::uint8_t> bytes) noexcept;

  // Instead of a first scan: the destination starts with zeroed RAM, so
  // every page's hash is the zero page's until sent() records what was
  // sent. A later scan then reports exactly the pages whose contents differ
  // from the destination's copy, a page never sent and still zero not
  // among them. The stop-time check beside the ring (ring_with_content_check.h)
  // scans only once, at the stop; call this before any collect.
  void assume_destination_zeros();

 private:
  std::span<const std::uint8_t> ram_;
  std::function<std::uint64_t()> clock_;
  std::vector<std::uint64_t> hashes_;
  std::vector<dpdc_page> history_;
  int backing_fd_ = -1;
  bool holes_known_ = false;
  Bitmap data_;  // pages with data in the backing file (the rest are holes)
  std::uint64_t zero_hash_ = 0;
  void scan_range(std::size_t first, std::size_t last, std::uint64_t now, Bitmap& out);
  void refresh_holes();

  bool baseline_ = false;
  bool stopped_ = false;
  std::function<void(std::uint64_t, std::uint64_t)> observer_;
  unsigned threads_ = 1;
  // A scan on threads of its own: launch_scan() starts one worker per range,
  // join_scan() waits and merges their bitmaps. The last scan returns
  // between the two (start_last_collect .. finish_last_collect).
  unsigned workers() const noexcept;
  void launch_scan(std::uint64_t now, std::size_t bits);
  void join_scan(Bitmap& out);
  void scan_done(std::uint64_t start);  // counts the scan and its duration
  std::vector<Bitmap> parts_;
  std::vector<std::thread> workers_;
  Bitmap* last_out_ = nullptr;
  std::uint64_t last_start_ = 0;
  std::uint64_t scans_ = 0;
  std::uint64_t first_scan_start_ = 0;
  std::uint64_t latest_scan_start_ = 0;
  std::uint64_t last_scan_end_ = 0;
  std::uint64_t last_scan_ns_ = 0;
};

}  // namespace dpdc
