#include <gtest/gtest.h>

#include "ring_dirty_source.h"

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

TEST(PageProven, OnlyAfterTheFlushThatCoversItsLastPush) {
  // Push entry 9 (ring_pos 10). Reset up to 10, but that reset's TLB flush may still be pending.
  EXPECT_FALSE(page_proven(pushed_at(10), ring(10, 4), true));
  // A later reset has begun: the one that covered entry 9 has flushed.
  EXPECT_TRUE(page_proven(pushed_at(10), ring(12, 10), true));
  EXPECT_TRUE(page_proven(pushed_at(10), ring(30, 25), true));
  // Not yet reset at all.
  EXPECT_FALSE(page_proven(pushed_at(10), ring(9, 9), true));
}

TEST(PageProven, RingIndicesWrap) {
  EXPECT_TRUE(page_proven(pushed_at(0xfffffff0u), ring(5, 3), true));   // flushed past the wrap
  EXPECT_FALSE(page_proven(pushed_at(5), ring(0xfffffff0u, 0xfffffff0u), true));
}

TEST(PageProven, PagesWithoutPushesNeedTwoResetsOfEveryRing) {
  dpdc_page never{};
  EXPECT_FALSE(page_proven(never, ring(0, 0), false));
  EXPECT_TRUE(page_proven(never, ring(0, 0), true));
}

}  // namespace
}  // namespace dpdc
