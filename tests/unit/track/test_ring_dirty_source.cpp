#include <gtest/gtest.h>

#include "track/ring_dirty_source.h"

#include <initializer_list>
#include <vector>

namespace dpdc {
namespace {

dpdc_page pushed_at(std::uint32_t ring_pos) {
  dpdc_page p{};
  p.count = 1;
  p.ring_pos = ring_pos;
  return p;
}

dpdc_ring ring(std::uint32_t reset_index, std::uint32_t flushed_index) {
  dpdc_ring r{};
  r.reset_index = reset_index;
  r.flushed_index = flushed_index;
  return r;
}

// A push accounted late, when counters.resets was `gen`.
dpdc_page pushed_late(std::uint32_t gen) {
  dpdc_page p{};
  p.count = 1;
  p.ring_pos = gen;
  p.last_ring = DPDC_RING_ANY;
  return p;
}

// A ring whose last three resets were global reset generations g0 (latest), g1, g2.
dpdc_ring reset_at(std::uint32_t g0, std::uint32_t g1, std::uint32_t g2) {
  dpdc_ring r = ring(100, 100);
  r.reset_gen[0] = g0;
  r.reset_gen[1] = g1;
  r.reset_gen[2] = g2;
  return r;
}

bool proven(const dpdc_page& p, std::initializer_list<dpdc_ring> rings, bool twice = true) {
  std::vector<dpdc_ring> v(rings);
  return page_proven(p, v, twice);
}

dpdc_ring resets_at(std::uint64_t resets, std::uint64_t last_reset_ms) {
  dpdc_ring r{};
  r.resets = resets;
  r.last_reset_ns = last_reset_ms * 1'000'000;
  return r;
}

TEST(FastestResetRate, ResetsBetweenTheTwoSamplesOverTheirKernelTimes) {
  // QEMU's reaper: a reset a second. 4 resets from 1.0 s to 5.0 s: 1 Hz.
  std::vector<dpdc_ring> then{resets_at(3, 1000)}, now{resets_at(7, 5000)};
  EXPECT_DOUBLE_EQ(fastest_reset_rate_hz(then, now), 1.0);
  // The fastest ring counts: ring 1 reset 10 times in 2 s.
  then.push_back(resets_at(1, 1000));
  now.push_back(resets_at(11, 3000));
  EXPECT_DOUBLE_EQ(fastest_reset_rate_hz(then, now), 5.0);
}

TEST(FastestResetRate, UnknownUntilARingWasResetBeforeAndSince) {
  EXPECT_EQ(fastest_reset_rate_hz(std::vector<dpdc_ring>{resets_at(0, 0)}, std::vector<dpdc_ring>{resets_at(5, 4000)}), 0.0)
      << "no reset before the first sample: the interval is unknown";
  EXPECT_EQ(fastest_reset_rate_hz(std::vector<dpdc_ring>{resets_at(5, 4000)}, std::vector<dpdc_ring>{resets_at(5, 4000)}), 0.0)
      << "no reset since";
  EXPECT_EQ(fastest_reset_rate_hz({}, {}), 0.0);
}

TEST(PageProven, OnlyAfterTheFlushThatCoversItsLastPush) {
  // Push entry 9 (ring_pos 10). Reset up to 10, but that reset's TLB flush may still be pending.
  EXPECT_FALSE(proven(pushed_at(10), {ring(10, 4)}));
  // A later reset has begun: the one that covered entry 9 has flushed.
  EXPECT_TRUE(proven(pushed_at(10), {ring(12, 10)}));
  EXPECT_TRUE(proven(pushed_at(10), {ring(30, 25)}));
  // Not yet reset at all.
  EXPECT_FALSE(proven(pushed_at(10), {ring(9, 9)}));
}

TEST(PageProven, OnlyTheRingThatTookThePushCounts) {
  dpdc_page on_ring_1 = pushed_at(10);
  on_ring_1.last_ring = 1;
  EXPECT_FALSE(proven(on_ring_1, {ring(30, 25), ring(10, 4)}));
  EXPECT_TRUE(proven(on_ring_1, {ring(0, 0), ring(12, 10)}));
  // A ring the source does not know (more vCPUs than it was told): never proven.
  dpdc_page on_ring_5 = pushed_at(10);
  on_ring_5.last_ring = 5;
  EXPECT_FALSE(proven(on_ring_5, {ring(30, 25), ring(30, 25)}));
}

TEST(PageProven, RingIndicesWrap) {
  EXPECT_TRUE(proven(pushed_at(0xfffffff0u), {ring(5, 3)}));  // flushed past the wrap
  EXPECT_FALSE(proven(pushed_at(5), {ring(0xfffffff0u, 0xfffffff0u)}));
}

TEST(PageProven, PagesWithoutPushesNeedTwoResetsOfEveryRing) {
  dpdc_page never{};
  EXPECT_FALSE(proven(never, {ring(0, 0)}, false));
  EXPECT_TRUE(proven(never, {ring(0, 0)}, true));
}

// A push accounted late may be older or newer than the pushes on other
// rings: it counts only once every ring was reset three times after it was
// accounted, however far the ring indices went.
TEST(PageProven, LatePushNeedsThreeResetsOfEveryRing) {
  const dpdc_page late = pushed_late(40);
  EXPECT_FALSE(proven(late, {reset_at(41, 40, 39), reset_at(43, 42, 41)}));  // ring 0: one reset since
  EXPECT_FALSE(proven(late, {reset_at(43, 42, 40), reset_at(46, 45, 44)}));  // ring 0: two
  EXPECT_TRUE(proven(late, {reset_at(44, 42, 41), reset_at(46, 45, 44)}));   // three on both
  EXPECT_FALSE(proven(late, {}));
  // Generations wrap like ring indices.
  EXPECT_TRUE(proven(pushed_late(0xfffffffeu), {reset_at(3, 2, 1)}));
  EXPECT_FALSE(proven(pushed_late(2), {reset_at(0xfffffffdu, 0xfffffffcu, 0xfffffffbu)}));
}

}  // namespace
}  // namespace dpdc
