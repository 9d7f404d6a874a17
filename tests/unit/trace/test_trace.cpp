// Traces: the file format's encode/decode pair, the synthetic workloads, and
// policies replayed on traces whose answer is known.
#include <gtest/gtest.h>

#include <algorithm>

#include "dpdc/error.h"
#include "policy/policy.h"
#include "policy/policy_dpdc.h"
#include "policy/policy_xen.h"
#include "precopy/precopy.h"
#include "sim/trace_synth.h"
#include "sim/trace_world.h"
#include "trace/trace.h"

namespace dpdc {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

TEST(TraceFormat, RoundTripsAndIsLittleEndian) {
  Trace t;
  t.pages = 300;
  t.duration_ns = 5000;
  t.events = {{1, 2, 0}, {0x0102030405060708ull, 299, 7}};
  auto bytes = encode_trace(t);
  ASSERT_EQ(bytes.size(), kTraceHeaderBytes + 2 * kTraceRecordBytes);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "DPDCTRC1");
  EXPECT_EQ(bytes[16], 300 & 0xff);  // pages, low byte first
  EXPECT_EQ(bytes[17], 300 >> 8);
  EXPECT_EQ(bytes[kTraceHeaderBytes + kTraceRecordBytes], 0x08);  // t_ns of the second record, low byte first
  Trace back = decode_trace(bytes);
  EXPECT_EQ(back.pages, 300u);
  EXPECT_EQ(back.events, t.events);
  EXPECT_EQ(back.duration_ns, t.events.back().t_ns);  // never shorter than its last event
}

TEST(TraceFormat, SortsRecordsFromSeveralCpus) {
  Trace t;
  t.pages = 10;
  t.events = {{50, 1, 0}, {20, 2, 1}, {30, 3, 0}};
  Trace back = decode_trace(encode_trace(t));
  ASSERT_EQ(back.events.size(), 3u);
  EXPECT_EQ(back.events[0].page, 2u);
  EXPECT_EQ(back.events[2].page, 1u);
}

TEST(TraceFormat, RejectsBadFilesWithTheOffset) {
  Trace t;
  t.pages = 10;
  t.events = {{1, 1, 0}};
  auto good = encode_trace(t);
  auto expect_bad = [](std::vector<std::uint8_t> b, const std::string& needle) {
    try {
      decode_trace(b);
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto b = good;
  b[0] = 'X';
  expect_bad(b, "at byte 0: wrong magic");
  b = good;
  b.pop_back();
  expect_bad(b, "at byte 32: truncated record");
  b = good;
  b[kTraceHeaderBytes + 8] = 10;  // page 10 of 10
  expect_bad(b, "at byte 40: page 10 beyond");
  expect_bad({1, 2, 3}, "header");
}

TEST(TraceSynth, KvmReportsAPageOncePerReap) {
  SynthOptions o;
  o.workload = "seq";
  o.pages = 100;
  o.seconds = 1;
  o.writes_per_s = 10'000;  // each page written every 10 ms, reaped every 100 ms
  o.reap_ms = 100;
  Trace t = synthesize_trace(o);
  EXPECT_EQ(t.events.size(), 100u * 10);  // once per page per reap period
  std::vector<int> per_page(100);
  for (const auto& e : t.events) per_page[e.page]++;
  EXPECT_TRUE(std::all_of(per_page.begin(), per_page.end(), [](int n) { return n == 10; }));
}

TEST(TraceSynth, HotColdPutsTheWritesInTheHotSet) {
  SynthOptions o;
  o.workload = "hotcold,hot=10,writes=90";
  o.pages = 10'000;
  o.seconds = 2;
  o.writes_per_s = 50'000;
  o.reap_ms = 1;  // nearly every write visible
  Trace t = synthesize_trace(o);
  std::uint64_t hot = 0;
  for (const auto& e : t.events) hot += e.page < 1000;
  double share = static_cast<double>(hot) / static_cast<double>(t.events.size());
  EXPECT_GT(share, 0.6);  // 90% of writes; fewer events since hot pages repeat within a reap
  EXPECT_LT(share, 0.95);
}

TEST(TraceSynth, IdleAndBadInput) {
  SynthOptions o;
  o.workload = "idle";
  EXPECT_TRUE(synthesize_trace(o).events.empty());
  o.workload = "nosuch";
  EXPECT_THROW(synthesize_trace(o), Error);
  o.workload = "seq";
  o.seconds = 0;
  EXPECT_THROW(synthesize_trace(o), Error);
}

// ---- Policies on traces whose answer is known ----

Trace hot_set_trace(std::uint64_t pages, std::uint64_t hot, std::uint64_t period_ns, std::uint64_t duration_ns) {
  Trace t;
  t.pages = pages;
  t.duration_ns = duration_ns;
  for (std::uint64_t at = 0; at < duration_ns; at += period_ns)
    for (std::uint64_t p = 0; p < hot; ++p) t.events.push_back({at, static_cast<std::uint32_t>(p), 0});
  return t;
}

std::vector<std::uint32_t> sends_per_page(const TraceWorld& w, std::uint64_t pages) {
  std::vector<std::uint32_t> n(pages, 0);
  for (const auto& round : w.sent_by_round()) round.for_each([&](std::size_t p) { n[p]++; });
  return n;
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
  PolicyOptions o;
  o.expected_bandwidth_bytes_per_s = 50e6;

  TraceWorld dw(t, {50e6, 1.0});
  DpdcPolicy dpdc(o);
  PrecopyReport d = run_precopy(dw, dpdc);
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
