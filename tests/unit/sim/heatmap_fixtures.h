#pragma once
// Options and a trace the heatmap tests share.
#include "sim/heatmap.h"
#include "sim/trace_synth.h"

namespace dpdc::test {

inline HeatmapOptions heatmap_opts(unsigned bins, unsigned groups) {
  HeatmapOptions o;
  o.time_bins = bins;
  o.page_groups = groups;
  return o;
}

// 16384 pages for 10 s; 20,000 writes/s, 90 % of them to a hot set of 10 %.
// Migrated from 4 s at 20 MB/s, the hot set is larger than the budget (1461
// pages): its hottest pages are final, the others deferred, over several rounds.
inline Trace hotcold_trace() {
  SynthOptions so;
  so.workload = "hotcold,hot=10,writes=90";
  so.pages = 16384;
  so.seconds = 10;
  so.writes_per_s = 20'000;
  return synthesize_trace(so);
}

}  // namespace dpdc::test
