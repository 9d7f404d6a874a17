#include <gtest/gtest.h>

#include <vector>

#include "policy/page_class.h"
#include "policy_fixtures.h"

namespace dpdc {
namespace {

using test::page_record;

constexpr std::uint64_t kSec = 1'000'000'000;

TEST(PageClass, NeverDirtiedIsCold) { EXPECT_EQ(classify(page_record(0, 0, 0), 100 * kSec, {}), PageHeat::Cold); }

TEST(PageClass, RecentAndRepeatedIsHot) {
  EXPECT_EQ(classify(page_record(5, 99 * kSec, 98 * kSec), 100 * kSec, {}), PageHeat::Hot);
}

TEST(PageClass, RecentButOnceIsWarm) {
  EXPECT_EQ(classify(page_record(1, 99 * kSec, 0), 100 * kSec, {}), PageHeat::Warm);
  // Rewritten, but the two writes were far apart.
  EXPECT_EQ(classify(page_record(2, 99 * kSec, 50 * kSec), 100 * kSec, {}), PageHeat::Warm);
}

TEST(PageClass, OldIsWarmThenCold) {
  EXPECT_EQ(classify(page_record(9, 95 * kSec, 94 * kSec), 100 * kSec, {}), PageHeat::Warm);
  EXPECT_EQ(classify(page_record(9, 80 * kSec, 79 * kSec), 100 * kSec, {}), PageHeat::Cold);
}

TEST(PageClass, RecordNewerThanNowCountsAsJustDirtied) {
  EXPECT_EQ(classify(page_record(3, 100 * kSec + 5, 99 * kSec), 100 * kSec, {}), PageHeat::Hot);
}

TEST(PageClass, CensusAddsUp) {
  std::vector<dpdc_page> pages = {page_record(0, 0, 0), page_record(5, 99 * kSec, 98 * kSec),
                                  page_record(1, 99 * kSec, 0), page_record(2, 10 * kSec, 9 * kSec)};
  PageCensus c = take_census(pages, 100 * kSec, {});
  EXPECT_EQ(c.pages, 4u);
  EXPECT_EQ(c.dirtied, 3u);
  EXPECT_EQ(c.hot, 1u);
  EXPECT_EQ(c.warm, 1u);
  EXPECT_EQ(c.cold, 2u);
  EXPECT_EQ(c.events, 8u);
}

}  // namespace
}  // namespace dpdc
