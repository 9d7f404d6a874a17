#include <gtest/gtest.h>

#include "cli/observe.h"

namespace dpdc {
namespace {

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
