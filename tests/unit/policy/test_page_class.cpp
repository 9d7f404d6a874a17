#include <gtest/gtest.h>

#include <vector>

#include "cli/observe.h"
#include "policy/page_class.h"

namespace dpdc {
namespace {

constexpr std::uint64_t kSec = 1'000'000'000;

dpdc_page page(std::uint32_t count, std::uint64_t last, std::uint64_t prev) {
  dpdc_page p{};
  p.count = count;
  p.last_ns = last;
  p.prev_ns = prev;
  return p;
}

TEST(PageClass, NeverDirtiedIsCold) { EXPECT_EQ(classify(page(0, 0, 0), 100 * kSec, {}), PageHeat::Cold); }

TEST(PageClass, RecentAndRepeatedIsHot) {
  EXPECT_EQ(classify(page(5, 99 * kSec, 98 * kSec), 100 * kSec, {}), PageHeat::Hot);
}

TEST(PageClass, RecentButOnceIsWarm) {
  EXPECT_EQ(classify(page(1, 99 * kSec, 0), 100 * kSec, {}), PageHeat::Warm);
  // Rewritten, but the two writes were far apart.
  EXPECT_EQ(classify(page(2, 99 * kSec, 50 * kSec), 100 * kSec, {}), PageHeat::Warm);
}

TEST(PageClass, OldIsWarmThenCold) {
  EXPECT_EQ(classify(page(9, 95 * kSec, 94 * kSec), 100 * kSec, {}), PageHeat::Warm);
  EXPECT_EQ(classify(page(9, 80 * kSec, 79 * kSec), 100 * kSec, {}), PageHeat::Cold);
}

TEST(PageClass, RecordNewerThanNowCountsAsJustDirtied) {
  EXPECT_EQ(classify(page(3, 100 * kSec + 5, 99 * kSec), 100 * kSec, {}), PageHeat::Hot);
}

TEST(PageClass, CensusAddsUp) {
  std::vector<dpdc_page> pages = {page(0, 0, 0), page(5, 99 * kSec, 98 * kSec), page(1, 99 * kSec, 0),
                                  page(2, 10 * kSec, 9 * kSec)};
  PageCensus c = take_census(pages, 100 * kSec, {});
  EXPECT_EQ(c.pages, 4u);
  EXPECT_EQ(c.dirtied, 3u);
  EXPECT_EQ(c.hot, 1u);
  EXPECT_EQ(c.warm, 1u);
  EXPECT_EQ(c.cold, 2u);
  EXPECT_EQ(c.events, 8u);
}

TEST(Observe, SampleRatesFromEventDelta) {
  PageCensus a, b;
  a.events = 1000;
  b.events = 3000;
  dpdc_counters counters{};
  ObserveSample s = make_sample(a, b, counters, 4.0, 2.0);
  EXPECT_EQ(s.new_events, 2000u);
  EXPECT_DOUBLE_EQ(s.pages_per_s, 1000.0);
  EXPECT_DOUBLE_EQ(s.mb_per_s, 4.096);
}

TEST(Observe, SummaryTracksMeanAndPeak) {
  ObserveSummary sum;
  PageCensus c0, c1, c2;
  c1.events = 100;
  c2.events = 400;
  add_to_summary(sum, make_sample(c0, c1, {}, 1.0, 1.0));
  add_to_summary(sum, make_sample(c1, c2, {}, 2.0, 1.0));
  EXPECT_EQ(sum.samples, 2u);
  EXPECT_DOUBLE_EQ(sum.peak_pages_per_s, 300.0);
  EXPECT_DOUBLE_EQ(sum.mean_pages_per_s, 200.0);
  auto j = summary_to_json(sum, 7);
  EXPECT_EQ(j["type"], "summary");
  EXPECT_EQ(j["pid"], 7);
  EXPECT_EQ(j["census"]["events"], 400);
  EXPECT_NE(format_summary(sum, 7).find("observed pid 7"), std::string::npos);
}

TEST(Observe, SampleLineAndJsonCarryTheCensus) {
  PageCensus c;
  c.pages = 10;
  c.dirtied = 4;
  c.hot = 1;
  c.warm = 3;
  c.cold = 6;
  ObserveSample s = make_sample({}, c, {}, 1.0, 1.0);
  auto j = sample_to_json(s);
  EXPECT_EQ(j["type"], "sample");
  EXPECT_EQ(j["census"]["hot"], 1);
  EXPECT_EQ(j["census"]["cold"], 6);
  std::string line = format_sample(s);
  EXPECT_NE(line.find("hot"), std::string::npos);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace dpdc
