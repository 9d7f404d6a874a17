// Policies replayed on traces whose answer is known.
#include <gtest/gtest.h>

#include <algorithm>

#include "policy/policy.h"
#include "policy/policy_xen.h"
#include "policy_fixtures.h"
#include "precopy/precopy.h"
#include "sim/trace_synth.h"
#include "sim/trace_world.h"
#include "trace/trace.h"

namespace dpdc {
namespace {

using test::run_dpdc;
using test::sends_per_page;

constexpr std::uint64_t kMs = 1'000'000;

Trace hot_set_trace(std::uint64_t pages, std::uint64_t hot, std::uint64_t period_ns, std::uint64_t duration_ns) {
  Trace t;
  t.pages = pages;
  t.duration_ns = duration_ns;
  for (std::uint64_t at = 0; at < duration_ns; at += period_ns)
    for (std::uint64_t p = 0; p < hot; ++p) t.events.push_back({at, static_cast<std::uint32_t>(p), 0});
  return t;
}

TEST(TracePolicies, NoDirtyingSendsEveryPageOnce) {
  Trace t;
  t.pages = 20'000;
  t.duration_ns = 10'000 * kMs;
  for (const char* name : {"xen", "qemu", "dpdc"}) {
    TraceWorld w(t, {50e6, 0});
    auto policy = make_policy(name, {});
    PrecopyReport r = run_precopy(w, *policy);
    auto n = sends_per_page(w, t.pages);
    EXPECT_TRUE(std::all_of(n.begin(), n.end(), [](auto v) { return v == 1; })) << name;
    EXPECT_EQ(r.totals.sent, t.pages) << name;
  }
}

TEST(TracePolicies, APageWrittenOnceIsSentOnce) {
  // Page 7 is written at 10 s, before the migration starts at 20 s, and
  // never again in the 1000 s trace.
  Trace t;
  t.pages = 20'000;
  t.duration_ns = 1'000'000 * kMs;
  t.events = {{10'000 * kMs, 7, 0}};
  for (const char* name : {"xen", "qemu", "dpdc"}) {
    TraceWorld w(t, {50e6, 20});
    auto policy = make_policy(name, {});
    run_precopy(w, *policy);
    EXPECT_EQ(sends_per_page(w, t.pages)[7], 1u) << name;
  }
}

TEST(TracePolicies, HotSetRewrittenEveryRoundIsSentOnceByDpdcEveryRoundByXen) {
  // 200 hot pages rewritten every 10 ms, 20,000 cold pages never; the link
  // moves 50 MB/s, so round 1 takes ~1.7 s and the hot set fits the downtime budget.
  Trace t = hot_set_trace(20'200, 200, 10 * kMs, 60'000 * kMs);

  TraceWorld dw(t, {50e6, 1.0});
  PrecopyReport d = run_dpdc(dw, 50e6);
  auto dn = sends_per_page(dw, t.pages);
  for (std::uint64_t p = 0; p < 200; ++p) ASSERT_EQ(dn[p], 1u) << "dpdc, hot page " << p;
  EXPECT_TRUE(dw.sent_by_round().back().test(0)) << "the hot set goes in the last round";
  EXPECT_EQ(d.final_round.result.sent, 200u);

  TraceWorld xw(t, {50e6, 1.0});
  XenPolicy xen;
  PrecopyReport x = run_precopy(xw, xen);
  // Xen sends the hot set in every round after the first: each short round
  // sends it before the next write, and the write makes it dirty again.
  auto xn = sends_per_page(xw, t.pages);
  EXPECT_GE(xn[0], x.totals.rounds - 1);
  EXPECT_GT(x.totals.sent, d.totals.sent);
}

TEST(TracePolicies, SameTraceSameReport) {
  SynthOptions o;
  o.workload = "zipf,s=1.2";
  o.pages = 16384;
  o.seconds = 5;
  o.writes_per_s = 20'000;
  Trace t = synthesize_trace(o);
  auto run = [&] {
    TraceWorld w(t, {40e6, 1.0});
    auto p = make_policy("dpdc", {});
    return report_to_json(run_precopy(w, *p)).dump();
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace dpdc
