#pragma once
// `attach --observe`: once a second, the dirty rate and how the guest's
// pages split into hot / warm / cold; a summary at the end. The sampling
// arithmetic and the output formats are pure; run_observe() does the I/O.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

#include "dpdc/dirty_track.h"
#include "policy/page_class.h"
#include "track/memory_layout.h"

namespace dpdc {

class DirtyTracker;
class StopFlag;

struct ObserveSample {
  double elapsed_s = 0;        // since the tracker attached
  double interval_s = 0;       // covered by this sample
  std::uint64_t new_events = 0;  // dirty events in tracked pages during the interval
  double pages_per_s = 0;
  double mb_per_s = 0;         // pages_per_s * 4096 / 1e6
  PageCensus census;
  dpdc_counters counters{};
};

ObserveSample make_sample(const PageCensus& before, const PageCensus& now, const dpdc_counters& counters,
                          double elapsed_s, double interval_s);

struct ObserveSummary {
  double seconds = 0;
  std::uint64_t samples = 0;
  double mean_pages_per_s = 0, peak_pages_per_s = 0;
  PageCensus census;           // at the end
  dpdc_counters counters{};
};

void add_to_summary(ObserveSummary& summary, const ObserveSample& sample);

std::string format_sample(const ObserveSample& s);
std::string format_summary(const ObserveSummary& s, std::uint64_t vmm_pid);
nlohmann::json sample_to_json(const ObserveSample& s);
nlohmann::json summary_to_json(const ObserveSummary& s, std::uint64_t vmm_pid);

struct ObserveOptions {
  double seconds = 0;  // 0: until SIGINT/SIGTERM
  bool json = false;   // JSON Lines: {"type":"sample",...} per second, {"type":"summary",...} at the end
  double interval_s = 1.0;
  HeatParams heat;
  // Optional: called about every 100 ms while observing (QEMU's bitmap
  // mode keeps its re-protections coming this way, qemu_bitmap_syncs.h).
  std::function<void()> tick;
};

// Samples until the time is up or `stop` is raised; returns the summary.
ObserveSummary run_observe(DirtyTracker& tracker, const ObserveOptions& options,
                           const StopFlag& stop, std::ostream& out);

}  // namespace dpdc
