// dpdc-engine synth and simulate as a user runs them: a trace file in, the
// same statistics as a live migration out, and clear errors for bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "subprocess.h"
#include "temp_dir.h"

namespace dpdc {
namespace {

using test::TempDir;

std::string engine() { return test::bin("dpdc-engine"); }

TEST(SimulateCli, SynthThenSimulateEveryPolicy) {
  TempDir dir;
  const std::string trace = dir / "hc.trace";
  auto gen = test::run({engine(), "synth", "--workload", "hotcold,hot=5,writes=95", "--pages", "16384", "--seconds",
                        "10", "--writes-per-s", "20000", "--out", trace});
  ASSERT_EQ(gen.code, 0) << gen.err;
  EXPECT_NE(gen.out.find("wrote"), std::string::npos);

  auto sim = test::run({engine(), "simulate", "--trace", trace, "--bandwidth", "20", "--start", "2", "--json"});
  ASSERT_EQ(sim.code, 0) << sim.err;
  auto j = nlohmann::json::parse(sim.out);
  ASSERT_EQ(j["runs"].size(), 3u);
  for (const auto& run : j["runs"]) {
    EXPECT_GE(run["totals"]["pages_sent"].get<std::uint64_t>(), 16384u) << run["policy"];
    EXPECT_GE(run["totals"]["rounds"].get<std::uint32_t>(), 2u) << run["policy"];
    EXPECT_TRUE(run.contains("estimated_downtime_ms"));
  }
  EXPECT_EQ(j["runs"][0]["policy"], "xen");
  EXPECT_EQ(j["runs"][2]["policy"], "dpdc");

  auto text = test::run({engine(), "simulate", "--trace", trace, "--policy", "xen,dpdc", "--bandwidth", "20"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("downtime (ms)"), std::string::npos) << text.out;  // the side-by-side table
}

TEST(SimulateCli, ProfileDrawsTheTraceAsSvg) {
  TempDir dir;
  const std::string trace = dir / "z.trace", svg = dir / "z.svg";
  ASSERT_EQ(test::run({engine(), "synth", "--workload", "zipf,s=1.2", "--pages", "8192", "--seconds", "5",
                       "--writes-per-s", "20000", "--out", trace})
                .code,
            0);
  auto r = test::run({engine(), "profile", "--trace", trace, "--out", svg, "--title", "zipf <1.2>"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(svg);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("zipf &lt;1.2&gt;"), std::string::npos);
  EXPECT_NE(text.find("delayed by DPDC"), std::string::npos);
  EXPECT_NE(text.find("</svg>"), std::string::npos);
  auto bad = test::run({engine(), "profile", "--trace", trace, "--out", svg, "--bins", "0"});
  EXPECT_EQ(bad.code, 2) << bad.err;
}

TEST(SimulateCli, BadInputIsOneLineAndExit2) {
  TempDir dir;
  const std::string junk = dir / "junk.trace";
  std::ofstream(junk) << "this is not a trace";
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {engine(), "simulate", "--trace", junk},
           {engine(), "simulate", "--trace", dir / "missing.trace"},
           {engine(), "simulate", "--trace", dir / "missing.trace", "--policy", "postcopy"},
           {engine(), "synth", "--workload", "nosuch", "--out", dir / "x.trace"}}) {
    auto r = test::run(argv);
    EXPECT_EQ(r.code, 2) << r.err;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  }
}

}  // namespace
}  // namespace dpdc
