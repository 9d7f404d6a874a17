#include <gtest/gtest.h>

#include "cli/progress_output.h"
#include "dpdc/error.h"

namespace dpdc {
namespace {

PrecopyProgress at(std::uint32_t round, std::uint64_t done, std::uint64_t total, bool final_round = false) {
  PrecopyProgress p;
  p.round = round;
  p.done = done;
  p.total = total;
  p.final_round = final_round;
  return p;
}

TEST(ProgressThrottle, ShowsEachRoundsFirstAndLastUpdateAndOtherwiseAtMostOnePerInterval) {
  ProgressThrottle t(100);
  EXPECT_TRUE(t.show(at(1, 1, 10), 1000));   // round 1 begins
  EXPECT_FALSE(t.show(at(1, 2, 10), 1050));  // 50 ns later
  EXPECT_TRUE(t.show(at(1, 3, 10), 1100));   // an interval later
  EXPECT_TRUE(t.show(at(1, 10, 10), 1101));  // the round's end, at once
  EXPECT_TRUE(t.show(at(2, 1, 4), 1102));    // the next round, at once
  EXPECT_FALSE(t.show(at(2, 2, 4), 1103));
  EXPECT_TRUE(t.show(at(3, 0, 0, true), 1104));  // an empty final round still shows
}

TEST(ProgressOutput, JsonCarriesTheRoundAndRate) {
  PrecopyProgress p = at(2, 5, 8);
  p.bytes = 4'000'000;
  p.elapsed_ns = 2'000'000'000;
  p.dirty_pending = 3;
  const auto j = progress_to_json(p);
  EXPECT_EQ(j["type"], "progress");
  EXPECT_EQ(j["round"], 2);
  EXPECT_EQ(j["final"], false);
  EXPECT_EQ(j["done"], 5);
  EXPECT_EQ(j["total"], 8);
  EXPECT_EQ(j["elapsed_ms"], 2000);
  EXPECT_DOUBLE_EQ(j["mb_per_s"].get<double>(), 2.0);
  EXPECT_EQ(j["dirty_pending"], 3);
  EXPECT_EQ(progress_to_text(p), "round 2:  62.5% of 8 pages, 2.0 MB/s, 3 dirtied since the round began");
  EXPECT_EQ(progress_to_text(at(4, 0, 0, true)).rfind("stop-and-copy 4: 100.0% of 0 pages", 0), 0u);
}

TEST(ProgressOutput, StylesAreNamedAndAnUnknownOneIsAUsageError) {
  EXPECT_EQ(parse_progress_style("json"), ProgressStyle::Json);
  EXPECT_EQ(parse_progress_style("none"), ProgressStyle::None);
  try {
    parse_progress_style("xml");
    FAIL() << "xml accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("auto, line, json or none"), std::string::npos);
  }
}

}  // namespace
}  // namespace dpdc
