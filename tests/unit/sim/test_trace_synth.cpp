// Synthetic traces from the workloads dpdc-vm's guests run.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "dpdc/error.h"
#include "sim/trace_synth.h"

namespace dpdc {
namespace {

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

}  // namespace
}  // namespace dpdc
