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

// Writes a synthetic trace with dpdc-engine synth; "" or what went wrong.
std::string synth(const std::string& path, const std::string& workload, const std::string& pages,
                  const std::string& seconds, const std::string& writes_per_s) {
  auto r = test::run({engine(), "synth", "--workload", workload, "--pages", pages, "--seconds", seconds,
                      "--writes-per-s", writes_per_s, "--out", path});
  return r.code == 0 ? "" : r.err;
}

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
  ASSERT_EQ(synth(trace, "zipf,s=1.2", "8192", "5", "20000"), "");
  auto r = test::run({engine(), "profile", "--trace", trace, "--out", svg, "--title", "zipf <1.2>", "--start", "2",
                      "--bandwidth", "20", "--downtime-limit", "200"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(svg);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("zipf &lt;1.2&gt;"), std::string::npos);
  EXPECT_NE(text.find("from 2 s at 20 MB/s, downtime limit 200 ms"), std::string::npos);
  EXPECT_NE(text.find("final: held until the stop-and-copy round (dirtied again within the 200 ms downtime limit)"),
            std::string::npos);
  EXPECT_NE(text.find("</svg>"), std::string::npos);

  // Defaults: the migration starts in the middle of the trace.
  auto d = test::run({engine(), "profile", "--trace", trace, "--out", svg});
  ASSERT_EQ(d.code, 0) << d.err;
  std::ifstream in2(svg);
  std::string text2((std::istreambuf_iterator<char>(in2)), {});
  EXPECT_NE(text2.find("from 2.5 s at 100 MB/s, downtime limit 300 ms"), std::string::npos);
}

TEST(SimulateCli, ProfileHelpExplainsTheMigrationOptions) {
  auto r = test::run({engine(), "profile", "--help"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* want : {"--start", "--bandwidth", "--downtime-limit", "held back", "default: the middle"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
  EXPECT_EQ(r.out.find("--horizon-ms"), std::string::npos) << r.out;
}

TEST(SimulateCli, ProfileBadOptionIsOneLineNamingItAndExit2) {
  TempDir dir;
  const std::string trace = dir / "h.trace", svg = dir / "h.svg";
  ASSERT_EQ(synth(trace, "hotcold", "4096", "2", "5000"), "");
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{{{"--bins", "0"}, "--bins"},
                                         {{"--groups", "100001"}, "--groups"},
                                         {{"--bandwidth", "0"}, "--bandwidth"},
                                         {{"--bandwidth", "2000000"}, "--bandwidth"},
                                         {{"--downtime-limit", "0"}, "--downtime-limit"},
                                         {{"--start", "-1"}, "--start"},
                                         {{"--start", "3"}, "--start"},  // past the 2 s trace
                                         {{"--horizon-ms", "5"}, "--horizon-ms"}}) {
    std::vector<std::string> argv{engine(), "profile", "--trace", trace, "--out", svg};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = test::run(argv);
    EXPECT_EQ(r.code, 2) << c.names << ": " << r.err;
    ASSERT_FALSE(r.err.empty()) << c.names;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << r.err;
  }
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
