#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "dpdc/error.h"
#include "heatmap_fixtures.h"
#include "sim/heatmap.h"

namespace dpdc {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

HeatmapOptions opts(unsigned bins, unsigned groups) { return test::heatmap_opts(bins, groups); }

void sort_events(Trace& t) {
  std::stable_sort(t.events.begin(), t.events.end(),
                   [](const TraceEvent& a, const TraceEvent& b) { return a.t_ns < b.t_ns; });
}

std::uint64_t sum(const std::vector<std::uint32_t>& v) { return std::accumulate(v.begin(), v.end(), std::uint64_t{0}); }

Trace random_trace(std::uint32_t seed, std::uint64_t pages, std::size_t n, std::uint64_t duration) {
  std::mt19937_64 rng(seed);
  Trace t;
  t.pages = pages;
  t.duration_ns = duration;
  // Mix of periodic hot pages and random noise.
  std::uniform_int_distribution<std::uint64_t> page(0, pages - 1), when(0, duration);
  for (std::size_t k = 0; k < n; ++k) t.events.push_back({when(rng), static_cast<std::uint32_t>(page(rng)), 0});
  for (std::uint32_t p = 0; p < pages / 8; ++p) {
    std::uint64_t period = (p % 7 + 1) * duration / 40;
    std::uint64_t stop = when(rng);
    for (std::uint64_t tt = p * 17 % period; tt <= stop; tt += period) t.events.push_back({tt, p * 3 % static_cast<std::uint32_t>(pages), 1});
  }
  if (!t.events.empty()) t.events.push_back({duration, 0, 0});  // an event at exactly the end
  sort_events(t);
  return t;
}

// Tag balance for the elements the renderer emits; returns "" or what is wrong.
std::string check_tags(const std::string& svg) {
  std::vector<std::string> stack;
  std::size_t pos = 0;
  while ((pos = svg.find('<', pos)) != std::string::npos) {
    std::size_t end = svg.find('>', pos);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(pos);
    std::string tag = svg.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag.find('<') != std::string::npos) return "'<' inside a tag: " + tag;
    if (tag[0] == '/') {
      std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) return "unbalanced </" + name + ">";
      stack.pop_back();
      continue;
    }
    std::string name = tag.substr(0, tag.find_first_of(" \n/"));
    if (tag.back() == '/') continue;  // self-closing
    stack.push_back(name);
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  return "";
}

TEST(Heatmap, EventsLandInTheirCells) {
  // 1024 pages in 16 groups of 64; 1 s in 10 bins of 100 ms. Pages 128..191
  // (group 2) are written every 10 ms: 10 writes per page per bin.
  Trace t;
  t.pages = 1024;
  t.duration_ns = 1000 * kMs;
  for (std::uint64_t ms = 0; ms < 1000; ms += 10) {
    for (std::uint32_t p = 128; p < 192; ++p) t.events.push_back({ms * kMs, p, 0});
  }
  Heatmap h = build_heatmap(t, opts(10, 16));
  ASSERT_EQ(h.page_groups, 16u);
  ASSERT_EQ(h.pages_per_group, 64u);
  ASSERT_EQ(h.bin_ns, 100 * kMs);
  EXPECT_EQ(h.max_events, 640u);
  for (unsigned g = 0; g < 16; ++g) {
    for (unsigned b = 0; b < 10; ++b) EXPECT_EQ(h.events_at(g, b), g == 2 ? 640u : 0u) << g << "," << b;
  }
}

TEST(Heatmap, CellCountsSumToEvents) {
  Trace t = random_trace(9, 4096, 20'000, 7000 * kMs);
  Heatmap h = build_heatmap(t, opts(120, 256));
  EXPECT_EQ(sum(h.events), t.events.size());
  EXPECT_EQ(h.total_events, t.events.size());
  EXPECT_EQ(h.max_events, *std::max_element(h.events.begin(), h.events.end()));
}

TEST(Heatmap, EventAtExactlyTheDurationGoesInTheLastBin) {
  for (std::uint64_t d : {std::uint64_t{11}, std::uint64_t{1000}, std::uint64_t{1001}, std::uint64_t{1099}, 1000 * kMs,
                          1000 * kMs + 1}) {
    Trace t;
    t.pages = 2;
    t.duration_ns = d;
    t.events = {{0, 0, 0}, {d, 1, 0}};
    Heatmap h = build_heatmap(t, opts(10, 2));
    EXPECT_EQ(h.events_at(0, 0), 1u) << d;
    EXPECT_EQ(h.time_bins, d == 11 ? 6u : 10u) << d;  // 11 ns: 6 bins of 2 ns
    EXPECT_EQ(h.events_at(1, h.time_bins - 1), 1u) << d;
    EXPECT_EQ(sum(h.events), 2u) << d;
    EXPECT_GE(std::uint64_t{h.time_bins} * h.bin_ns, d);
  }
}

TEST(Heatmap, GroupsAndDurationAdaptToTheTrace) {
  Trace t;
  t.pages = 10;
  t.duration_ns = 0;  // shorter than the events: the last event's time is used
  t.events = {{0, 3, 0}, {500, 12, 0}};  // page beyond t.pages: covered, not dropped
  Heatmap h = build_heatmap(t, opts(120, 256));
  EXPECT_EQ(h.pages, 13u);
  EXPECT_EQ(h.pages_per_group, 1u);
  EXPECT_EQ(h.page_groups, 13u);
  EXPECT_EQ(h.duration_ns, 500u);
  EXPECT_EQ(h.bin_ns, 5u);  // 500 ns cannot be cut into 120 whole-ns bins: 100 bins of 5 ns
  EXPECT_EQ(h.time_bins, 100u);
  EXPECT_EQ(h.events_at(12, 99), 1u);
  EXPECT_EQ(sum(h.events), 2u);
}

TEST(Heatmap, EmptyTraceRenders) {
  Trace t;
  t.pages = 1000;
  Heatmap h = build_heatmap(t, HeatmapOptions{});
  EXPECT_EQ(h.max_events, 0u);
  EXPECT_EQ(sum(h.events), 0u);
  std::string svg = render_svg(h, HeatmapOptions{});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(check_tags(svg), "");
  EXPECT_NE(svg.find("no dirty events"), std::string::npos);

  Trace none;  // not even a page count
  Heatmap h0 = build_heatmap(none, HeatmapOptions{});
  EXPECT_EQ(h0.page_groups, 1u);
  EXPECT_EQ(check_tags(render_svg(h0, HeatmapOptions{})), "");
}

TEST(Heatmap, SvgIsWellFormedWithLegendAndEscapedTitle) {
  Trace t = random_trace(3, 2048, 10'000, 4000 * kMs);
  HeatmapOptions o = opts(120, 256);
  o.title = "guest <a> & \"b\" 'c'\x01";
  std::string svg = render_svg(build_heatmap(t, o), o);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(check_tags(svg), "");
  EXPECT_NE(svg.find("final: held until the stop-and-copy round (dirtied again within the 300 ms downtime limit)"),
            std::string::npos);
  EXPECT_NE(svg.find("deferred: held back for one round"), std::string::npos);
  EXPECT_NE(svg.find("dashed: a round begins"), std::string::npos);
  EXPECT_NE(svg.find("dirty events per cell (log scale"), std::string::npos);
  EXPECT_NE(svg.find("guest &lt;a&gt; &amp; &quot;b&quot; &apos;c&apos; "), std::string::npos);
  EXPECT_EQ(svg.find("<a>"), std::string::npos);
  EXPECT_EQ(svg.find("& "), std::string::npos);
  EXPECT_EQ(svg.find('\x01'), std::string::npos);
  EXPECT_EQ(xml_escape("caf\xc3\xa9 \xff\xc3"), "caf\xc3\xa9 ??");
  EXPECT_NE(svg.find("time since the trace began (s)"), std::string::npos);
  EXPECT_NE(svg.find("guest page index"), std::string::npos);

  HeatmapOptions narrow = o;  // legend wraps onto two rows
  narrow.width = 600;
  narrow.height = 400;
  EXPECT_EQ(check_tags(render_svg(build_heatmap(t, narrow), narrow)), "");
}

TEST(Heatmap, BadOptionsAreUsageErrors) {
  Trace t;
  t.pages = 10;
  auto expect_usage = [&](const HeatmapOptions& o) {
    try {
      build_heatmap(t, o);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  };
  expect_usage(opts(0, 10));
  expect_usage(opts(10, 0));
  expect_usage(opts(10'001, 10));
  HeatmapOptions small = opts(10, 10);
  small.width = 10;
  expect_usage(small);
  EXPECT_THROW(render_svg(Heatmap{}, opts(0, 1)), Error);
}

TEST(Heatmap, MigrationOptionsOutOfRangeAreUsageErrorsNamingTheOption) {
  Trace t;
  t.pages = 10;
  t.duration_ns = 2000 * kMs;
  auto expect_usage = [&](const HeatmapOptions& o, const std::string& names) {
    try {
      build_heatmap(t, o);
      ADD_FAILURE() << "no error for " << names;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage);
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_NE(what.find(names), std::string::npos) << what;
    }
  };
  for (double bw : {0.0, -1.0, 0.05, 2e6, std::nan(""), HUGE_VAL}) {
    HeatmapOptions o = opts(10, 10);
    o.bandwidth_mb_s = bw;
    expect_usage(o, "--bandwidth");
  }
  for (std::uint64_t ms : {std::uint64_t{0}, std::uint64_t{3'600'001}}) {
    HeatmapOptions o = opts(10, 10);
    o.downtime_limit_ms = ms;
    expect_usage(o, "--downtime-limit");
  }
  for (double start : {-1.0, std::nan(""), HUGE_VAL, 2.5}) {  // 2.5 s: past the 2 s trace
    HeatmapOptions o = opts(10, 10);
    o.start_s = start;
    expect_usage(o, "--start");
  }
  // The edges are fine: the trace's first and last moment, the slowest and fastest links.
  for (double start : {0.0, 2.0}) {
    HeatmapOptions o = opts(10, 10);
    o.start_s = start;
    o.bandwidth_mb_s = start == 0 ? 0.1 : 1e6;
    o.downtime_limit_ms = start == 0 ? 1 : 3'600'000;
    EXPECT_NO_THROW(build_heatmap(t, o)) << start;
  }
}

std::size_t occurrences(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Heatmap, SvgDrawsBothMarksTheRoundsAndTheStop) {
  HeatmapOptions o = opts(120, 128);
  o.start_s = 4;
  o.bandwidth_mb_s = 20;
  const Heatmap h = build_heatmap(test::hotcold_trace(), o);
  ASSERT_GT(h.max_final, 0u);
  ASSERT_GT(h.max_deferred, 0u);
  ASSERT_GE(h.rounds.size(), 2u);
  const std::string svg = render_svg(h, o);
  EXPECT_EQ(check_tags(svg), "");
  // Three legend swatches each, and the cells' hatches besides.
  EXPECT_GT(occurrences(svg, "fill=\"url(#final"), 3u);
  EXPECT_GT(occurrences(svg, "fill=\"url(#deferred"), 3u);
  EXPECT_NE(svg.find("<g clip-path=\"url(#rounds)\">"), std::string::npos);
  EXPECT_NE(svg.find(">round</text>"), std::string::npos);
  EXPECT_NE(svg.find("<title>round 1: 4 s to "), std::string::npos);
  EXPECT_NE(svg.find("; held " + std::to_string(h.rounds[0].final_pages) + " pages final, " +
                     std::to_string(h.rounds[0].deferred_pages) + " deferred</title>1</text>"),
            std::string::npos);
  EXPECT_NE(svg.find("font-weight=\"bold\">stop</text>"), std::string::npos);
  EXPECT_NE(svg.find("Simulated DPDC v2 migration (simulate --policy dpdc) from 4 s at 20 MB/s, downtime "
                     "limit 300 ms: " + std::to_string(h.rounds.size()) + " rounds, then stop-and-copy (round " +
                     std::to_string(h.rounds.size() + 1) + ")"),
            std::string::npos);
  EXPECT_NE(svg.find("Guest stopped at "), std::string::npos);
  EXPECT_EQ(svg.find("outlasts the trace"), std::string::npos);
  // One dashed line per round.
  const std::size_t dashed = svg.find("stroke-dasharray=\"4 3\"/>");
  ASSERT_NE(dashed, std::string::npos);
  const std::size_t path = svg.rfind("<path d=\"", dashed);
  EXPECT_EQ(occurrences(svg.substr(path, dashed - path), "M"), h.rounds.size());
}

TEST(Heatmap, NoMarksWhenTheMigrationStartsAtTheTracesEnd) {
  HeatmapOptions o = opts(120, 128);
  o.start_s = 10;
  const Heatmap h = build_heatmap(test::hotcold_trace(), o);
  EXPECT_EQ(h.max_final, 0u);
  EXPECT_EQ(h.max_deferred, 0u);
  const std::string svg = render_svg(h, o);
  EXPECT_EQ(check_tags(svg), "");
  EXPECT_EQ(occurrences(svg, "fill=\"url(#final"), 3u);  // the legend's swatches only
  EXPECT_EQ(occurrences(svg, "fill=\"url(#deferred"), 3u);
  EXPECT_NE(svg.find("The migration outlasts the trace"), std::string::npos);
}

TEST(Heatmap, WriteSvgFileAndReportBadPath) {
  Trace t = random_trace(5, 256, 1000, 1000 * kMs);
  auto path = std::filesystem::temp_directory_path() / ("dpdc_heatmap_test_" + std::to_string(::getpid()) + ".svg");
  write_heatmap_svg(t, HeatmapOptions{}, path.string());
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::filesystem::remove(path);
  EXPECT_EQ(ss.str().rfind("<svg", 0), 0u);
  EXPECT_EQ(check_tags(ss.str()), "");
  try {
    write_heatmap_svg(t, HeatmapOptions{}, "/nonexistent-dir/x.svg");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.svg"), std::string::npos);
  }
}

}  // namespace
}  // namespace dpdc
