#include <gtest/gtest.h>

#include <algorithm>
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
#include "heatmap.h"
#include "policy_dpdc.h"

namespace dpdc {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

HeatmapOptions opts(unsigned bins, unsigned groups, std::uint64_t horizon_ns = 1000 * kMs) {
  HeatmapOptions o;
  o.time_bins = bins;
  o.page_groups = groups;
  o.horizon_ns = horizon_ns;
  return o;
}

void sort_events(Trace& t) {
  std::stable_sort(t.events.begin(), t.events.end(),
                   [](const TraceEvent& a, const TraceEvent& b) { return a.t_ns < b.t_ns; });
}

std::uint64_t sum(const std::vector<std::uint32_t>& v) { return std::accumulate(v.begin(), v.end(), std::uint64_t{0}); }

// The obvious, slow definition: replay the kernel record and call
// classify_page for every page at the end of every bin. Times are shifted by
// a kernel-like base because the kernel's clock is never 0 (classify_page
// reads prev_ns == 0 as "no previous dirtying").
std::vector<std::uint32_t> reference_delayed(const Trace& trace, const Heatmap& h) {
  constexpr std::uint64_t kBase = 1'000'000'000'000ull;
  std::vector<dpdc_page> rec(h.pages);
  std::vector<std::uint32_t> out(std::size_t{h.page_groups} * h.time_bins, 0);
  std::size_t i = 0;
  for (unsigned b = 0; b < h.time_bins; ++b) {
    for (; i < trace.events.size(); ++i) {
      const auto& e = trace.events[i];
      bool in_bin = b + 1 == h.time_bins || e.t_ns < h.bin_end_ns(b);
      if (!in_bin) break;
      dpdc_page& r = rec[e.page];
      r.prev_ns = r.last_ns;
      r.last_ns = e.t_ns + kBase;
      ++r.count;
    }
    for (std::uint64_t p = 0; p < h.pages; ++p) {
      if (classify_page(rec[p], h.bin_end_ns(b) + kBase, h.horizon_ns) == PageState::Delay) {
        ++out[(p / h.pages_per_group) * h.time_bins + b];
      }
    }
  }
  return out;
}

Trace random_trace(std::uint32_t seed, std::uint64_t pages, std::size_t n, std::uint64_t duration) {
  std::mt19937_64 rng(seed);
  Trace t;
  t.pages = pages;
  t.duration_ns = duration;
  // Mix of periodic hot pages and random noise, so every branch of the rule occurs.
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

TEST(Heatmap, HotSetLandsInItsCellsAndIsDelayed) {
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
    for (unsigned b = 0; b < 10; ++b) {
      EXPECT_EQ(h.events_at(g, b), g == 2 ? 640u : 0u) << g << "," << b;
      EXPECT_EQ(h.delayed_at(g, b), g == 2 ? 64u : 0u) << g << "," << b;
    }
  }
  EXPECT_EQ(h.max_delayed, 64u);
}

TEST(Heatmap, DelayedFromTheSecondWriteUntilCleanForTwiceTheInterval) {
  // One page written at 5 ms and 15 ms; bins of 10 ms. Bin 0 (end 10 ms):
  // one write, no interval yet. Bins 1-2 (ends 20, 30 ms): next write
  // expected at 25 ms, delayed. Bin 3 (end 40 ms): clean past 35 ms, sent.
  Trace t;
  t.pages = 4;
  t.duration_ns = 100 * kMs;
  t.events = {{5 * kMs, 1, 0}, {15 * kMs, 1, 0}};
  Heatmap h = build_heatmap(t, opts(10, 4));
  ASSERT_EQ(h.pages_per_group, 1u);
  std::vector<std::uint32_t> want{0, 1, 1, 0, 0, 0, 0, 0, 0, 0};
  for (unsigned b = 0; b < 10; ++b) EXPECT_EQ(h.delayed_at(1, b), want[b]) << b;
  EXPECT_EQ(h.events_at(1, 0), 1u);
  EXPECT_EQ(h.events_at(1, 1), 1u);
}

TEST(Heatmap, DelayedOnlyOnceTheNextWriteFallsWithinTheHorizon) {
  // Writes at 0 s and 2 s, horizon 1 s, bins of 0.5 s: the next write is
  // expected at 4 s, inside the horizon from 3 s; stale after 6 s.
  Trace t;
  t.pages = 1;
  t.duration_ns = 5000 * kMs;
  t.events = {{0, 0, 0}, {2000 * kMs, 0, 0}};
  Heatmap h = build_heatmap(t, opts(10, 1));
  ASSERT_EQ(h.bin_ns, 500 * kMs);
  std::vector<std::uint32_t> want{0, 0, 0, 0, 0, 1, 1, 1, 1, 1};  // bin ends 0.5 .. 5 s
  for (unsigned b = 0; b < 10; ++b) EXPECT_EQ(h.delayed_at(0, b), want[b]) << b;
}

TEST(Heatmap, PageWrittenOnceIsNeverDelayed) {
  Trace t;
  t.pages = 8;
  t.duration_ns = 1000 * kMs;
  for (std::uint32_t p = 0; p < 8; ++p) t.events.push_back({p * 100 * kMs, p, 0});
  Heatmap h = build_heatmap(t, opts(10, 8, 10'000 * kMs));
  EXPECT_EQ(sum(h.delayed), 0u);
  EXPECT_EQ(h.max_delayed, 0u);
  EXPECT_EQ(sum(h.events), 8u);
}

TEST(Heatmap, MatchesClassifyPageBinByBin) {
  struct Case {
    std::uint32_t seed;
    std::uint64_t pages;
    std::size_t n;
    std::uint64_t duration;
    unsigned bins, groups;
    std::uint64_t horizon;
  };
  for (const Case& c : {Case{1, 64, 500, 1000 * kMs, 20, 8, 100 * kMs}, Case{2, 100, 2000, 3333 * kMs + 7, 37, 13, 0},
                        Case{3, 1000, 5000, 10'000 * kMs, 50, 1000, 1000 * kMs},
                        Case{4, 7, 300, 999, 120, 256, 50},  // tiny duration: 1 ns bins
                        Case{5, 333, 4000, 2000 * kMs, 120, 256, 5000 * kMs}}) {
    Trace t = random_trace(c.seed, c.pages, c.n, c.duration);
    Heatmap h = build_heatmap(t, opts(c.bins, c.groups, c.horizon));
    EXPECT_EQ(h.delayed, reference_delayed(t, h)) << "seed " << c.seed;
    EXPECT_GT(h.max_delayed, 0u) << "seed " << c.seed;
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
  EXPECT_NE(svg.find("delayed by DPDC: expected to be dirtied again within the horizon"), std::string::npos);
  EXPECT_NE(svg.find("dirty events per cell (log scale"), std::string::npos);
  EXPECT_NE(svg.find("guest &lt;a&gt; &amp; &quot;b&quot; &apos;c&apos; "), std::string::npos);
  EXPECT_EQ(svg.find("<a>"), std::string::npos);
  EXPECT_EQ(svg.find("& "), std::string::npos);
  EXPECT_EQ(svg.find('\x01'), std::string::npos);
  EXPECT_EQ(xml_escape("caf\xc3\xa9 \xff\xc3"), "caf\xc3\xa9 ??");
  EXPECT_NE(svg.find("url(#hatch3)"), std::string::npos);  // the delayed overlay is drawn
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
