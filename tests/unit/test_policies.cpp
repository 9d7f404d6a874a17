#include <gtest/gtest.h>

#include "dpdc/error.h"
#include "policy_dpdc.h"
#include "policy_qemu.h"
#include "policy_xen.h"
#include "precopy.h"
#include "scripted_world.h"

namespace dpdc {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> v;
  for (auto p = from; p < to; ++p) v.push_back(p);
  return v;
}

RoundResult round_result(std::uint32_t round, std::uint64_t sent, std::uint64_t skipped, std::uint64_t dirty_after,
                         double bw = 100e6) {
  RoundResult r;
  r.round = round;
  r.sent = sent;
  r.skipped = skipped;
  r.dirty_after = dirty_after;
  r.bandwidth_bytes_per_s = bw;
  return r;
}

MigrationTotals totals(std::uint64_t guest, std::uint64_t sent) {
  MigrationTotals t;
  t.total_pages = guest;
  t.sent = sent;
  return t;
}

TEST(XenPolicy, StopRules) {
  XenPolicy xen;
  EXPECT_FALSE(xen.finish_round(round_result(1, 1000, 0, 500), totals(1000, 1000)).stop);
  // Fewer than 50 pages sent plus skipped.
  EXPECT_TRUE(xen.finish_round(round_result(2, 30, 19, 500), totals(1000, 1030)).stop);
  EXPECT_FALSE(xen.finish_round(round_result(2, 30, 20, 500), totals(1000, 1030)).stop);
  // More than 3x the guest's pages sent.
  EXPECT_FALSE(xen.finish_round(round_result(5, 500, 0, 500), totals(1000, 3000)).stop);
  EXPECT_TRUE(xen.finish_round(round_result(5, 500, 0, 500), totals(1000, 3001)).stop);
  // 29 iterations, then the last round makes 30.
  EXPECT_FALSE(xen.finish_round(round_result(28, 500, 0, 500), totals(100000, 1000)).stop);
  EXPECT_TRUE(xen.finish_round(round_result(29, 500, 0, 500), totals(100000, 1000)).stop);
}

TEST(XenPolicy, SkipsPagesDirtiedDuringTheRound) {
  XenPolicy xen;
  Bitmap now(16);
  now.set(3);
  EXPECT_TRUE(xen.skip_in_flight(3, now));
  EXPECT_FALSE(xen.skip_in_flight(4, now));
}

TEST(QemuPolicy, StopsWhenDirtyBytesFitBandwidthTimesDowntime) {
  PolicyOptions o;
  o.downtime_limit_ms = 300;
  o.max_rounds = 0;
  QemuPolicy q(o);
  // 100 MB/s x 0.3 s = 30 MB = 7324 pages.
  EXPECT_TRUE(q.finish_round(round_result(3, 1, 0, 7324), totals(1 << 20, 0)).stop);
  EXPECT_FALSE(q.finish_round(round_result(3, 1, 0, 7325), totals(1 << 20, 0)).stop);
  EXPECT_FALSE(q.finish_round(round_result(500, 1, 0, 7325), totals(1 << 20, 0)).stop);  // no round limit of its own
  o.max_rounds = 10;
  QemuPolicy capped(o);
  EXPECT_TRUE(capped.finish_round(round_result(10, 1, 0, 7325), totals(1 << 20, 0)).stop);
}

TEST(DpdcPolicy, ClassifiesByPredictedNextDirty) {
  dpdc_page p{};
  EXPECT_EQ(classify_page(p, 10 * kMs, 5 * kMs), PageState::Send);  // never dirtied
  p.count = 1;
  p.last_ns = 9 * kMs;
  EXPECT_EQ(classify_page(p, 10 * kMs, 5 * kMs), PageState::Send);  // once: no interval to go by
  p.count = 2;
  p.prev_ns = 7 * kMs;  // interval 2 ms, next at 11 ms, inside now + 5 ms
  EXPECT_EQ(classify_page(p, 10 * kMs, 5 * kMs), PageState::Delay);
  p.prev_ns = 1 * kMs;  // interval 8 ms, next at 17 ms, beyond 15 ms
  EXPECT_EQ(classify_page(p, 10 * kMs, 5 * kMs), PageState::Send);
  p.prev_ns = 8 * kMs;  // interval 1 ms; clean since 9 ms, i.e. for more than twice its interval at 12 ms
  EXPECT_EQ(classify_page(p, 12 * kMs, 5 * kMs), PageState::Send);
}

TEST(Policies, MakePolicyByName) {
  EXPECT_EQ(make_policy("xen", {})->name(), "xen");
  EXPECT_EQ(make_policy("qemu", {})->name(), "qemu");
  EXPECT_EQ(make_policy("dpdc", {})->name(), "dpdc");
  EXPECT_THROW(make_policy("postcopy", {}), Error);
}

// ---- The round driver on scripted guests ----

TEST(Precopy, NoDirtyingSendsEveryPageOnce) {
  for (const char* name : {"xen", "qemu", "dpdc"}) {
    test::ScriptedWorld world(5000, 100e6);
    auto policy = make_policy(name, {});
    PrecopyReport rep = run_precopy(world, *policy);
    for (std::uint64_t p = 0; p < 5000; ++p) ASSERT_EQ(world.sends(p), 1u) << name << " page " << p;
    EXPECT_EQ(rep.totals.sent, 5000u) << name;
    EXPECT_EQ(rep.final_round.result.sent, 0u) << name;
    EXPECT_TRUE(world.final_seen());
  }
}

TEST(Precopy, XenSkipsAPageDirtiedBeforeItsTurnAndSendsItNextRound) {
  // 100 MB/s: a 1,024-page batch takes about 42 ms. Page 3000 is written once
  // at 10 ms, after round 1 began and before its batch's peek.
  test::ScriptedWorld world(4096, 100e6);
  world.add_writer({{3000}, 1000 * kMs * 1000, 10 * kMs, 10 * kMs});
  XenPolicy xen;
  PrecopyReport rep = run_precopy(world, xen);
  ASSERT_GE(rep.rounds.size(), 2u);
  EXPECT_EQ(rep.rounds[0].result.skipped, 1u);
  EXPECT_EQ(rep.rounds[0].result.sent, 4095u);
  EXPECT_EQ(world.sends(3000), 1u);
  EXPECT_EQ(rep.totals.sent, 4096u);
}

TEST(Precopy, AWriteAfterItsPageWasSentIsSentAgain) {
  test::ScriptedWorld world(4096, 100e6);
  world.add_writer({{10}, 1000 * kMs * 1000, 100 * kMs, 100 * kMs});  // page 10 sent at ~0 ms, written at 100 ms
  XenPolicy xen;
  run_precopy(world, xen);
  EXPECT_EQ(world.sends(10), 2u);
}

TEST(Precopy, WritesDuringTheLastIterationReachTheFinalRound) {
  // Hot pages written every 5 ms until the guest stops: each must be in the final round.
  for (const char* name : {"xen", "qemu", "dpdc"}) {
    test::ScriptedWorld world(8192, 50e6);
    world.add_writer({range(0, 200), 5 * kMs, 1 * kMs});
    world.advance_to(50 * kMs);
    auto policy = make_policy(name, {});
    PrecopyReport rep = run_precopy(world, *policy);
    EXPECT_EQ(rep.final_round.result.sent, 200u) << name;
  }
}

TEST(Precopy, DpdcSendsARewrittenHotSetOnceXenEveryRound) {
  // 100 hot pages rewritten every 2 ms; 20,000 cold pages never written.
  // History from 1 s of running before the migration starts.
  auto make_world = [] {
    auto w = std::make_unique<test::ScriptedWorld>(20100, 40e6);
    w->add_writer({range(20000, 20100), 2 * kMs, 0});
    w->advance_to(1000 * kMs);
    return w;
  };
  auto w = make_world();
  DpdcPolicy dpdc({});
  PrecopyReport d = run_precopy(*w, dpdc);
  for (std::uint64_t p = 20000; p < 20100; ++p) ASSERT_EQ(w->sends(p), 1u) << "dpdc page " << p;
  EXPECT_EQ(d.final_round.result.sent, 100u);

  // Every delay was right (the hot pages were rewritten while held), and no send was wasted.
  EXPECT_EQ(d.prediction.delayed, 100u);
  EXPECT_EQ(d.prediction.delayed_dirtied_again, 100u);
  EXPECT_DOUBLE_EQ(d.prediction.precision(), 1.0);
  EXPECT_EQ(d.prediction.sends_wasted, 0u);
  EXPECT_EQ(d.prediction.distinct_pages_sent, 20100u);

  auto x = make_world();
  XenPolicy xen;
  PrecopyReport xr = run_precopy(*x, xen);
  EXPECT_EQ(xr.prediction.delayed, 0u);
  EXPECT_EQ(xr.prediction.sends_wasted, xr.totals.sent - xr.prediction.distinct_pages_sent);
  std::uint64_t per_round = 0;
  for (const auto& r : xr.rounds) per_round += r.sent_again_later;
  EXPECT_EQ(per_round, xr.prediction.sends_wasted);  // counted back into the rounds that wasted them
  EXPECT_GT(xr.totals.sent, d.totals.sent);
  std::uint64_t hot_sends = 0;
  for (std::uint64_t p = 20000; p < 20100; ++p) hot_sends += x->sends(p);
  EXPECT_GT(hot_sends, 100u * 10);  // Xen resends the hot set round after round
}

TEST(Precopy, ReportsProgressAfterEveryBatch) {
  test::ScriptedWorld world(5000, 100e6);
  world.add_writer({range(0, 100), 5 * kMs, 1 * kMs});
  std::vector<PrecopyProgress> seen;
  PrecopyOptions o;
  o.progress = [&](const PrecopyProgress& p) { seen.push_back(p); };
  XenPolicy xen;
  PrecopyReport rep = run_precopy(world, xen, o);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().round, 1u);
  EXPECT_EQ(seen.front().total, 5000u);
  for (std::size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i].bytes, seen[i - 1].bytes);
    EXPECT_GE(seen[i].round, seen[i - 1].round);
  }
  EXPECT_TRUE(seen.back().final_round);
  EXPECT_EQ(seen.back().done, seen.back().total);
  EXPECT_EQ(seen.back().bytes, rep.totals.bytes);
}

TEST(Precopy, ReportJsonHasRoundsAndTotals) {
  test::ScriptedWorld world(1000, 100e6);
  XenPolicy xen;
  auto j = report_to_json(run_precopy(world, xen));
  EXPECT_EQ(j["policy"], "xen");
  EXPECT_EQ(j["totals"]["pages_sent"], 1000);
  EXPECT_EQ(j["totals"]["guest_pages"], 1000);
  EXPECT_TRUE(j["rounds"].is_array());
  EXPECT_EQ(j["final_round"]["decision"], "stop and copy");
}

}  // namespace
}  // namespace dpdc
