// The heatmap's held-page marks: what DpdcPolicy held in each round when the
// trace is migrated as `simulate --policy dpdc` does it, and nothing else.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "heatmap_fixtures.h"
#include "policy/policy_dpdc.h"
#include "precopy/precopy.h"
#include "sim/heatmap.h"
#include "sim/simulate.h"
#include "sim/trace_world.h"
#include "trace/trace.h"

namespace dpdc {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSec = 1000 * kMs;

HeatmapOptions marks_opts(unsigned bins, unsigned groups, double start_s, double bandwidth_mb_s) {
  HeatmapOptions o = test::heatmap_opts(bins, groups);
  o.start_s = start_s;
  o.bandwidth_mb_s = bandwidth_mb_s;
  return o;
}

// 4096 pages in groups of 64. Group 2 (pages 128..191) is rewritten every
// 5 ms; pages 1024..3071 are each written once, one every ~2 ms over the
// 4 s; the rest never.
Trace hot_set_and_single_writes() {
  Trace t;
  t.pages = 4096;
  t.duration_ns = 4 * kSec;
  for (std::uint64_t ms = 0; ms < 4000; ms += 5) {
    for (std::uint32_t p = 128; p < 192; ++p) t.events.push_back({ms * kMs, p, 0});
  }
  for (std::uint32_t k = 0; k < 2048; ++k) t.events.push_back({k * t.duration_ns / 2048, 1024 + k, 0});
  std::stable_sort(t.events.begin(), t.events.end(),
                   [](const TraceEvent& a, const TraceEvent& b) { return a.t_ns < b.t_ns; });
  return t;
}

TEST(HeatmapMarks, HotSetIsFinalInEveryRoundAndAPageWrittenOnceIsNeverMarked) {
  // 10 MB/s: the budget is 731 pages; round 1 (4032 pages) takes ~1.65 s,
  // and the single writes left dirty meanwhile (~840) need more rounds. The
  // hot set (200 events/s) is dirtied within the 300 ms downtime limit: final.
  const Trace t = hot_set_and_single_writes();
  const Heatmap h = build_heatmap(t, marks_opts(400, 64, 1.0, 10));
  ASSERT_EQ(h.pages_per_group, 64u);
  ASSERT_EQ(h.bin_ns, 10 * kMs);
  ASSERT_GE(h.rounds.size(), 2u);
  EXPECT_EQ(h.start_ns, 1 * kSec);
  EXPECT_EQ(h.rounds.front().start_ns, 1 * kSec);
  for (const auto& r : h.rounds) {
    EXPECT_EQ(r.final_pages, 64u) << "round " << r.round;
    EXPECT_EQ(r.deferred_pages, 0u) << "round " << r.round;
  }
  unsigned marked = 0;
  for (unsigned b = 0; b < h.time_bins; ++b) {
    const std::uint64_t from = std::uint64_t{b} * h.bin_ns, to = h.bin_end_ns(b);
    const bool in_rounds = from >= h.start_ns && to <= h.stop_ns;
    const bool outside = to <= h.start_ns || from >= h.stop_ns;
    if (in_rounds) {
      EXPECT_EQ(h.final_at(2, b), 64u) << "bin " << b;
      ++marked;
    }
    if (outside) {
      EXPECT_EQ(h.final_at(2, b), 0u) << "bin " << b;
    }
    EXPECT_EQ(h.deferred_at(2, b), 0u) << "bin " << b;
    for (unsigned g = 0; g < h.page_groups; ++g) {
      if (g == 2) continue;  // groups 16..47: single writes; the rest: never written
      ASSERT_EQ(h.final_at(g, b), 0u) << "group " << g << " bin " << b;
      ASSERT_EQ(h.deferred_at(g, b), 0u) << "group " << g << " bin " << b;
    }
  }
  EXPECT_GT(marked, 100u);  // the rounds cover well over a second
  EXPECT_EQ(h.max_final, 64u);
  EXPECT_EQ(h.max_deferred, 0u);
}

TEST(HeatmapMarks, NothingIsMarkedBeforeTheMigrationStarts) {
  const Trace t = hot_set_and_single_writes();
  for (double start_s : {0.5, 2.0, 3.25}) {
    const Heatmap h = build_heatmap(t, marks_opts(400, 64, start_s, 10));
    const auto start = static_cast<std::uint64_t>(start_s * 1e9);
    EXPECT_EQ(h.start_ns, start);
    const unsigned first = static_cast<unsigned>(start / h.bin_ns);  // the bin the migration starts in
    for (unsigned b = 0; b < first; ++b) {
      for (unsigned g = 0; g < h.page_groups; ++g) {
        ASSERT_EQ(h.final_at(g, b), 0u) << start_s << " s, bin " << b;
        ASSERT_EQ(h.deferred_at(g, b), 0u) << start_s << " s, bin " << b;
      }
    }
    EXPECT_EQ(h.final_at(2, first), 64u) << start_s << " s: marked from the start's bin on";
  }
}

TEST(HeatmapMarks, DefaultStartIsTheMiddleOfTheTrace) {
  const Trace t = hot_set_and_single_writes();
  HeatmapOptions o = marks_opts(100, 64, 0, 10);
  o.start_s.reset();
  const Heatmap h = build_heatmap(t, o);
  EXPECT_EQ(h.start_ns, 2 * kSec);
  for (unsigned b = 0; b < 50; ++b) EXPECT_EQ(h.final_at(2, b), 0u) << b;
  EXPECT_EQ(h.final_at(2, 50), 64u);
}

// The simulator's DpdcPolicy with every plan's hold set copied: an observer
// independent of the driver hook the heatmap uses.
struct RecordedRound {
  std::uint64_t start_ns;
  Bitmap hold, final_pages;
};

class RecordingDpdc final : public Policy {
 public:
  explicit RecordingDpdc(const PolicyOptions& o) : inner_(o) {}
  std::string_view name() const override { return inner_.name(); }
  void plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) override {
    inner_.plan(in, send, hold);
    Bitmap deferred = hold;
    deferred.subtract(inner_.last_final());
    // The final/deferred split agrees with the policy's own counts.
    EXPECT_EQ(inner_.last_final().count(), inner_.last_final_pages());
    EXPECT_EQ(deferred.count(), inner_.last_deferred_pages());
    rounds.push_back({in.now_ns, hold, inner_.last_final()});
  }
  bool skip_in_flight(std::uint64_t page, const Bitmap& dirtied_now) const override {
    return inner_.skip_in_flight(page, dirtied_now);
  }
  StopDecision finish_round(const RoundResult& round, const MigrationTotals& totals) override {
    return inner_.finish_round(round, totals);
  }
  nlohmann::json describe() const override { return inner_.describe(); }

  std::vector<RecordedRound> rounds;

 private:
  DpdcPolicy inner_;
};

TEST(HeatmapMarks, MarksAreTheHoldSetsOfTheSimulatorsDpdcPolicyRoundByRound) {
  const Trace t = test::hotcold_trace();  // final and deferred pages, several rounds
  const double start_s = 4, bw = 20;
  const Heatmap h = build_heatmap(t, marks_opts(2000, 128, start_s, bw));

  RecordingDpdc policy(simulated_policy_options(bw, 300));
  TraceWorld world(t, {bw * 1e6, start_s});
  const PrecopyReport report = run_precopy(world, policy);
  ASSERT_EQ(h.rounds.size(), policy.rounds.size());
  ASSERT_GE(h.rounds.size(), 2u);
  EXPECT_EQ(h.stop_reason, report.stop_reason);
  EXPECT_EQ(h.end_ns, h.start_ns + report.total_ns);
  EXPECT_EQ(h.stop_ns, h.end_ns - report.stop_ns);

  // Per round: times and totals, and each group's held pages, per kind.
  const std::size_t G = h.page_groups, B = h.time_bins;
  std::vector<std::vector<std::uint32_t>> fin(h.rounds.size(), std::vector<std::uint32_t>(G)),
      def(h.rounds.size(), std::vector<std::uint32_t>(G));
  std::uint64_t total_final = 0, total_deferred = 0;
  for (std::size_t i = 0; i < h.rounds.size(); ++i) {
    const RecordedRound& d = policy.rounds[i];
    EXPECT_EQ(h.rounds[i].round, i + 1);
    EXPECT_EQ(h.rounds[i].start_ns, d.start_ns) << "round " << i + 1;
    EXPECT_EQ(h.rounds[i].end_ns, d.start_ns + report.rounds[i].result.duration_ns) << "round " << i + 1;
    EXPECT_EQ(h.rounds[i].final_pages + h.rounds[i].deferred_pages, report.rounds[i].result.held);
    EXPECT_EQ(h.rounds[i].final_pages, d.final_pages.count()) << "round " << i + 1;
    d.hold.for_each([&](std::size_t p) { ++(d.final_pages.test(p) ? fin : def)[i][p / h.pages_per_group]; });
    total_final += d.final_pages.count();
    total_deferred += d.hold.count() - d.final_pages.count();
  }
  ASSERT_GT(total_final, 0u);
  ASSERT_GT(total_deferred, 0u);

  // A bin inside one round shows that round's counts exactly.
  for (std::size_t i = 0; i < h.rounds.size(); ++i) {
    const auto& r = h.rounds[i];
    unsigned inside = 0;
    for (unsigned b = 0; b < B; ++b) {
      if (std::uint64_t{b} * h.bin_ns < r.start_ns || h.bin_end_ns(b) > r.end_ns) continue;
      ++inside;
      for (unsigned g = 0; g < G; ++g) {
        ASSERT_EQ(h.final_at(g, b), fin[i][g]) << "round " << r.round << " bin " << b << " group " << g;
        ASSERT_EQ(h.deferred_at(g, b), def[i][g]) << "round " << r.round << " bin " << b << " group " << g;
      }
    }
    if (i == 0) {
      EXPECT_GT(inside, 100u) << "round 1 spans many bins";
    }
  }
  // Every bin: the most of any round overlapping it; none outside the rounds.
  std::vector<std::uint32_t> want_final(G * B, 0), want_deferred(G * B, 0);
  for (std::size_t i = 0; i < h.rounds.size(); ++i) {
    const std::uint64_t s = h.rounds[i].start_ns, e = std::max(h.rounds[i].end_ns, s + 1);
    for (unsigned b = 0; b < B; ++b) {
      if (!(s < h.bin_end_ns(b) && std::uint64_t{b} * h.bin_ns < e)) continue;
      for (unsigned g = 0; g < G; ++g) {
        want_final[g * B + b] = std::max(want_final[g * B + b], fin[i][g]);
        want_deferred[g * B + b] = std::max(want_deferred[g * B + b], def[i][g]);
      }
    }
  }
  EXPECT_EQ(h.held_final, want_final);
  EXPECT_EQ(h.held_deferred, want_deferred);
}

TEST(HeatmapMarks, AMigrationOutlastingTheTraceIsDrawnUpToItsEndAndSaidSo) {
  // 1 MB/s: round 1 alone takes 16 s of a 4 s trace (the simulator repeats it).
  const Trace t = hot_set_and_single_writes();
  const Heatmap h = build_heatmap(t, marks_opts(100, 64, 2.0, 1));
  EXPECT_GT(h.end_ns, t.duration_ns);
  EXPECT_EQ(h.time_bins, 100u);
  EXPECT_EQ(h.final_at(2, 99), 64u);  // round 1 goes on to the right edge
  EXPECT_EQ(h.final_at(2, 49), 0u);
  const std::string svg = render_svg(h, marks_opts(100, 64, 2.0, 1));
  EXPECT_NE(svg.find("The migration outlasts the trace"), std::string::npos);
  EXPECT_EQ(svg.find("bold\">stop</text>"), std::string::npos);  // the stop is past the edge
}

}  // namespace
}  // namespace dpdc
