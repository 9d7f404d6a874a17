#include <gtest/gtest.h>

#include "live/pacer.h"

namespace dpdc {
namespace {

TEST(Pacer, NoCapNeverWaits) {
  Pacer p;
  p.start(0);
  EXPECT_EQ(p.reserve(1 << 30, 0), 0u);
}

TEST(Pacer, SchedulesChunksAtTheRate) {
  Pacer p(1e6);  // 1 MB/s
  p.start(1'000'000'000);
  EXPECT_EQ(p.reserve(500'000, 1'000'000'000), 0u);          // first chunk goes at once
  EXPECT_EQ(p.reserve(500'000, 1'000'000'000), 500'000'000u); // second waits 0.5 s
  EXPECT_EQ(p.reserve(500'000, 1'600'000'000), 400'000'000u); // third is due at 2.0 s
  EXPECT_EQ(p.reserve(500'000, 3'000'000'000), 0u);          // late: no wait
}

TEST(Pacer, IdleTimeEarnsNoBurst) {
  Pacer p(1e6);  // 1 MB/s
  p.start(0);
  // Nothing sent for 10 s, then three chunks: the rate holds from the first.
  EXPECT_EQ(p.reserve(500'000, 10'000'000'000), 0u);
  EXPECT_EQ(p.reserve(500'000, 10'000'000'000), 500'000'000u);
  EXPECT_EQ(p.reserve(500'000, 10'000'000'000), 1'000'000'000u);
}

TEST(Pacer, AverageRateNeverExceedsTheCap) {
  Pacer p(10e6);
  std::uint64_t now = 0, bytes = 0;
  p.start(now);
  for (int i = 0; i < 100; ++i) {
    now += p.reserve(1 << 20, now);
    bytes += 1 << 20;
    // Everything before this chunk fits the rate by the time it starts.
    EXPECT_GE(static_cast<double>(now) / 1e9 + 1e-9, static_cast<double>(bytes - (1 << 20)) / 10e6);
  }
}

}  // namespace
}  // namespace dpdc
