#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include "dpdc/mapping.h"
#include "dpdc/unique_fd.h"
#include "track/content_dirty_source.h"

namespace dpdc {
namespace {

constexpr std::size_t kPages = 64;

struct Fixture {
  std::vector<std::uint8_t> ram = std::vector<std::uint8_t>(kPages * DPDC_PAGE_SIZE, 0);
  std::uint64_t now = 1'000'000'000;
  ContentDirtySource source{ram, [this] { return now; }};

  std::vector<std::size_t> collect(Scan scan) {
    Bitmap out(kPages);
    source.collect(out, scan);
    std::vector<std::size_t> pages;
    out.for_each([&](std::size_t p) { pages.push_back(p); });
    return pages;
  }
  std::span<const std::uint8_t> page(std::size_t p) const {
    return std::span<const std::uint8_t>(ram).subspan(p * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE);
  }
};

TEST(ContentDirtySource, ReportsExactlyThePagesWhoseBytesChanged) {
  Fixture f;
  EXPECT_TRUE(f.collect(Scan::Complete).empty()) << "the first scan is the baseline";
  f.ram[3 * DPDC_PAGE_SIZE + 100] = 1;
  f.ram[7 * DPDC_PAGE_SIZE + 4095] = 2;
  f.ram[63 * DPDC_PAGE_SIZE] = 3;
  f.now += 5'000'000;
  EXPECT_EQ(f.collect(Scan::Complete), (std::vector<std::size_t>{3, 7, 63}));
  EXPECT_TRUE(f.collect(Scan::Complete).empty()) << "changes are reported once";
  EXPECT_EQ(f.source.history()[3].count, 1u);
  EXPECT_EQ(f.source.history()[3].last_ns, 1'005'000'000u);
  EXPECT_EQ(f.source.history()[4].count, 0u);
}

TEST(ContentDirtySource, HistoryKeepsTheTwoLatestScanTimes) {
  Fixture f;
  f.collect(Scan::Complete);
  for (int i = 1; i <= 3; ++i) {
    f.ram[5 * DPDC_PAGE_SIZE] = static_cast<std::uint8_t>(i);
    f.now += 100'000'000;
    f.collect(Scan::Complete);
  }
  const dpdc_page& h = f.source.history()[5];
  EXPECT_EQ(h.count, 3u);
  EXPECT_EQ(h.last_ns, 1'300'000'000u);
  EXPECT_EQ(h.prev_ns, 1'200'000'000u);
}

TEST(ContentDirtySource, HistoryResolutionIsScansPerSecond) {
  Fixture f;
  EXPECT_EQ(f.source.history_resolution_hz(), 0.0) << "no scan yet";
  f.collect(Scan::Complete);
  EXPECT_EQ(f.source.history_resolution_hz(), 0.0) << "one scan: no interval";
  for (int i = 0; i < 4; ++i) {
    f.now += 250'000'000;
    f.collect(Scan::Complete);
  }
  // 5 scans started 250 ms apart: a page can be seen changed 4 times a second.
  EXPECT_DOUBLE_EQ(f.source.history_resolution_hz(), 4.0);
}

TEST(ContentDirtySource, ACopyThatNoLongerMatchesTheRamIsReportedAgain) {
  Fixture f;
  f.collect(Scan::Complete);
  // The engine sent page 9 while it held 0x11; the guest has written 0x22 since.
  std::vector<std::uint8_t> sent(DPDC_PAGE_SIZE, 0x11);
  EXPECT_TRUE(f.source.sent(9, sent));
  f.ram[9 * DPDC_PAGE_SIZE] = 0x22;
  EXPECT_EQ(f.collect(Scan::Complete), (std::vector<std::size_t>{9}));
  // Sent as it is now: clean.
  EXPECT_TRUE(f.source.sent(9, f.page(9)));
  EXPECT_TRUE(f.collect(Scan::Complete).empty());
}

TEST(ContentDirtySource, APeekRightAfterAScanMayWaitButNothingIsLost) {
  Fixture f;
  f.collect(Scan::Complete);
  f.ram[1 * DPDC_PAGE_SIZE] = 1;
  f.now += 1'000;  // far less than the minimum gap between peeks
  EXPECT_TRUE(f.collect(Scan::Peek).empty());
  f.now += 50'000'000;
  EXPECT_EQ(f.collect(Scan::Peek), (std::vector<std::size_t>{1}));
  f.ram[2 * DPDC_PAGE_SIZE] = 1;
  f.now += 1'000;
  EXPECT_EQ(f.collect(Scan::Complete), (std::vector<std::size_t>{2})) << "a Complete scan is never skipped";
}

TEST(ContentDirtySource, AWriteThatRestoresTheSentBytesNeedsNoResend) {
  Fixture f;
  f.collect(Scan::Complete);
  f.ram[4 * DPDC_PAGE_SIZE] = 9;
  f.ram[4 * DPDC_PAGE_SIZE] = 0;
  EXPECT_TRUE(f.collect(Scan::Complete).empty());
}

}  // namespace
}  // namespace dpdc

namespace dpdc {
namespace {

TEST(ContentDirtySource, ScansWithTheGuestStoppedUseEveryCpuAndMissNothing) {
  constexpr std::size_t kBig = 10'000;  // not a multiple of 64: the last range is short
  std::vector<std::uint8_t> ram(kBig * DPDC_PAGE_SIZE, 0);
  std::uint64_t now = 1;
  ContentDirtySource source(ram, [&] { return now; });
  Bitmap out(kBig);
  source.collect(out, Scan::Complete);
  source.guest_stopped();
  const std::vector<std::size_t> changed{0, 63, 64, 4999, 5000, 5001, 9998, 9999};
  for (auto p : changed) ram[p * DPDC_PAGE_SIZE + 7] = 1;
  source.collect(out, Scan::Complete);
  std::vector<std::size_t> got;
  out.for_each([&](std::size_t p) { got.push_back(p); });
  EXPECT_EQ(got, changed);
  for (auto p : changed) EXPECT_EQ(source.history()[p].count, 1u);
}

// Ranges are split so that every page has one, also when the page count
// does not divide evenly (8193 on two CPUs once left the last page out).
TEST(ContentDirtySource, AStoppedScanReachesTheLastPageOfAnOddSizedGuest) {
  constexpr std::size_t kOdd = 2 * 4096 + 1;
  std::vector<std::uint8_t> ram(kOdd * DPDC_PAGE_SIZE, 0);
  std::uint64_t now = 1;
  ContentDirtySource source(ram, [&] { return now; });
  Bitmap out(kOdd);
  source.collect(out, Scan::Complete);
  source.guest_stopped();
  ram[(kOdd - 1) * DPDC_PAGE_SIZE] = 1;
  ram[0] = 1;
  source.collect(out, Scan::Complete);
  EXPECT_TRUE(out.test(kOdd - 1));
  EXPECT_TRUE(out.test(0));
  EXPECT_EQ(out.count(), 2u);
}

// The last scan runs on its own threads while the round driver sends (and
// reports as sent) the pages it already knew: those reports must not hide a
// change from the scan, and every change is found.
TEST(ContentDirtySource, TheLastScanBesideSendingMissesNothing) {
  constexpr std::size_t kBig = 10'000;
  std::vector<std::uint8_t> ram(kBig * DPDC_PAGE_SIZE, 0);
  std::uint64_t now = 1;
  ContentDirtySource source(ram, [&] { return now; });
  Bitmap out(kBig);
  source.collect(out, Scan::Complete);
  const std::vector<std::size_t> changed{1, 64, 640, 5000, 9999};
  for (auto p : changed) ram[p * DPDC_PAGE_SIZE + 9] = 5;
  source.guest_stopped();
  Bitmap last(kBig);
  source.start_last_collect(last);
  // Meanwhile the sender copies pages, changed ones included, and reports them.
  for (std::size_t p = 0; p < kBig; p += 7) {
    EXPECT_TRUE(source.sent(p, std::span<const std::uint8_t>(ram).subspan(p * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE)));
  }
  source.sent(5000, std::span<const std::uint8_t>(ram).subspan(5000 * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE));
  source.finish_last_collect();
  std::vector<std::size_t> got;
  last.for_each([&](std::size_t p) { got.push_back(p); });
  EXPECT_EQ(got, changed);
  EXPECT_EQ(source.scans(), 2u);
}

// Before the stop there is no "last" scan: start does the whole scan itself.
TEST(ContentDirtySource, ALastCollectBeforeTheStopIsAnOrdinaryScan) {
  Fixture f;
  f.collect(Scan::Complete);
  f.ram[2 * DPDC_PAGE_SIZE] = 1;
  Bitmap last(kPages);
  f.source.start_last_collect(last);
  EXPECT_TRUE(last.test(2));
  f.source.finish_last_collect();
  EXPECT_EQ(last.count(), 1u);
}

}  // namespace
}  // namespace dpdc


namespace dpdc {
namespace {

// Guest RAM in a memfd, as QEMU's shared backend: holes are zero pages that
// are neither read nor allocated, and a hole that gets written is reported.
TEST(ContentDirtySource, HolesInTheBackingFileAreZeroPagesNeverRead) {
  constexpr std::size_t kPagesHere = 256;
  UniqueFd fd(::memfd_create("guest-ram", MFD_CLOEXEC));
  ASSERT_TRUE(fd);
  ASSERT_EQ(::ftruncate(fd.get(), kPagesHere * DPDC_PAGE_SIZE), 0);
  Mapping rw(kPagesHere * DPDC_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0, "test map");
  auto* guest = rw.as<std::uint8_t>();
  guest[10 * DPDC_PAGE_SIZE] = 1;  // the guest has touched pages 10 and 200 only
  guest[200 * DPDC_PAGE_SIZE] = 1;
  Mapping ro(kPagesHere * DPDC_PAGE_SIZE, PROT_READ, MAP_SHARED, fd.get(), 0, "test map");
  std::uint64_t now = 1;
  ContentDirtySource source({ro.as<const std::uint8_t>(), kPagesHere * DPDC_PAGE_SIZE}, [&] { return now; },
                            fd.get());
  Bitmap out(kPagesHere);
  source.collect(out, Scan::Complete);
  EXPECT_TRUE(source.known_zero(0));
  EXPECT_FALSE(source.known_zero(10));
  EXPECT_FALSE(source.known_zero(200));
  // The scan did not fault the holes in: the memfd still holds two pages.
  std::vector<unsigned char> resident(kPagesHere);
  ASSERT_EQ(::mincore(ro.get(), kPagesHere * DPDC_PAGE_SIZE, resident.data()), 0);
  std::size_t in_core = 0;
  for (auto r : resident) in_core += r & 1;
  EXPECT_EQ(in_core, 2u);
  // Writing into a hole is a change like any other; so is punching one.
  guest[50 * DPDC_PAGE_SIZE + 3] = 7;
  ASSERT_EQ(::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10 * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE), 0);
  out.clear();
  source.collect(out, Scan::Complete);
  std::vector<std::size_t> got;
  out.for_each([&](std::size_t p) { got.push_back(p); });
  EXPECT_EQ(got, (std::vector<std::size_t>{10, 50}));
  EXPECT_TRUE(source.known_zero(10));
}

}  // namespace
}  // namespace dpdc

namespace dpdc {
namespace {

// The stop-time check beside the ring: no first scan, hashes only from what
// was sent, the destination's zeros for the rest. At the stop exactly the
// pages whose bytes differ from the destination's copy are reported: one
// changed after it was sent, one never sent that holds data; not a page
// sent and unchanged, nor one never sent that is still zero.
TEST(ContentDirtySource, DestinationZerosCheckFindsWhatDiffersFromTheSentCopy) {
  Fixture f;
  f.source.assume_destination_zeros();
  f.ram[1 * DPDC_PAGE_SIZE] = 9;
  f.ram[2 * DPDC_PAGE_SIZE] = 8;
  f.ram[5 * DPDC_PAGE_SIZE + 17] = 7;  // never sent
  std::vector<std::uint8_t> copy(f.page(1).begin(), f.page(1).end());
  EXPECT_TRUE(f.source.sent(1, copy));
  copy.assign(f.page(2).begin(), f.page(2).end());
  EXPECT_TRUE(f.source.sent(2, copy));
  f.ram[2 * DPDC_PAGE_SIZE + 1] = 1;  // written after it was sent
  f.source.guest_stopped();
  Bitmap out(kPages);
  f.source.start_last_collect(out);
  f.source.finish_last_collect();
  std::vector<std::size_t> pages;
  out.for_each([&](std::size_t p) { pages.push_back(p); });
  EXPECT_EQ(pages, (std::vector<std::size_t>{2, 5}));
}

}  // namespace
}  // namespace dpdc
