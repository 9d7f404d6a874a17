#include "cli/observe.h"

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "dpdc/clock.h"
#include "live/stop_flag.h"
#include "loader/dirty_track_loader.h"

namespace dpdc {

namespace {

nlohmann::json census_json(const PageCensus& c) {
  return {{"pages", c.pages}, {"dirtied", c.dirtied}, {"hot", c.hot}, {"warm", c.warm}, {"cold", c.cold},
          {"events", c.events}};
}

nlohmann::json counters_json(const dpdc_counters& c) {
  return {{"pushes", c.pushes},             {"resets", c.resets},         {"unknown_slot", c.unknown_slot},
          {"out_of_range", c.out_of_range}, {"full_exits", c.full_exits},     {"late", c.late},
          {"lost", c.lost},             {"unmapped", c.unmapped},     {"slot_reads", c.slot_reads}};
}

}  // namespace

ObserveSample make_sample(const PageCensus& before, const PageCensus& now, const dpdc_counters& counters,
                          double elapsed_s, double interval_s) {
  ObserveSample s;
  s.elapsed_s = elapsed_s;
  s.interval_s = interval_s;
  s.new_events = now.events >= before.events ? now.events - before.events : 0;
  s.pages_per_s = interval_s > 0 ? static_cast<double>(s.new_events) / interval_s : 0;
  s.mb_per_s = s.pages_per_s * DPDC_PAGE_SIZE / 1e6;
  s.census = now;
  s.counters = counters;
  return s;
}

void add_to_summary(ObserveSummary& summary, const ObserveSample& sample) {
  summary.seconds = sample.elapsed_s;
  summary.samples++;
  summary.peak_pages_per_s = std::max(summary.peak_pages_per_s, sample.pages_per_s);
  summary.mean_pages_per_s = summary.seconds > 0 ? static_cast<double>(sample.census.events) / summary.seconds : 0;
  summary.census = sample.census;
  summary.counters = sample.counters;
}

std::string format_sample(const ObserveSample& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%7.1fs  %10.0f pages/s  %8.2f MB/s  dirtied %9llu  hot %9llu  warm %9llu  cold %9llu",
                s.elapsed_s, s.pages_per_s, s.mb_per_s, static_cast<unsigned long long>(s.census.dirtied),
                static_cast<unsigned long long>(s.census.hot), static_cast<unsigned long long>(s.census.warm),
                static_cast<unsigned long long>(s.census.cold));
  return buf;
}

std::string format_summary(const ObserveSummary& s, std::uint64_t vmm_pid) {
  char buf[768];
  const auto& c = s.census;
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::snprintf(buf, sizeof buf,
                "observed pid %llu for %.1f s\n"
                "  dirty rate      mean %.0f pages/s (%.2f MB/s), peak %.0f pages/s\n"
                "  pages           %llu in all, %llu dirtied at least once (%.1f%%)\n"
                "  heat            hot %llu, warm %llu, cold %llu\n"
                "  dirty events    %llu in tracked pages; %llu pushes, %llu ring resets, %llu ring-full exits\n"
                "  untracked       %llu events outside any known memslot, %llu beyond a slot, %llu in RAM not "
                "migrated (ROMs, video)\n"
                "  accounted late  %llu pushes (tracepoint call skipped), %llu lost\n",
                u(vmm_pid), s.seconds, s.mean_pages_per_s, s.mean_pages_per_s * DPDC_PAGE_SIZE / 1e6,
                s.peak_pages_per_s, u(c.pages), u(c.dirtied),
                c.pages ? 100.0 * static_cast<double>(c.dirtied) / static_cast<double>(c.pages) : 0.0, u(c.hot),
                u(c.warm), u(c.cold), u(c.events), u(s.counters.pushes), u(s.counters.resets),
                u(s.counters.full_exits), u(s.counters.unknown_slot), u(s.counters.out_of_range),
                u(s.counters.unmapped), u(s.counters.late), u(s.counters.lost));
  return buf;
}

nlohmann::json sample_to_json(const ObserveSample& s) {
  return {{"type", "sample"},         {"elapsed_s", s.elapsed_s},     {"interval_s", s.interval_s},
          {"new_events", s.new_events}, {"pages_per_s", s.pages_per_s}, {"mb_per_s", s.mb_per_s},
          {"census", census_json(s.census)}, {"counters", counters_json(s.counters)}};
}

nlohmann::json summary_to_json(const ObserveSummary& s, std::uint64_t vmm_pid) {
  return {{"type", "summary"},
          {"pid", vmm_pid},
          {"seconds", s.seconds},
          {"samples", s.samples},
          {"mean_pages_per_s", s.mean_pages_per_s},
          {"mean_mb_per_s", s.mean_pages_per_s * DPDC_PAGE_SIZE / 1e6},
          {"peak_pages_per_s", s.peak_pages_per_s},
          {"census", census_json(s.census)},
          {"counters", counters_json(s.counters)}};
}

ObserveSummary run_observe(DirtyTracker& tracker, const ObserveOptions& options,
                           const StopFlag& stop, std::ostream& out) {
  ObserveSummary summary;
  const std::uint64_t start = monotonic_ns();
  const auto interval = std::chrono::nanoseconds(static_cast<std::int64_t>(options.interval_s * 1e9));
  PageCensus before = take_census(tracker.pages(), start, options.heat);
  std::uint64_t last = start;
  for (;;) {
    double elapsed = static_cast<double>(monotonic_ns() - start) / 1e9;
    auto wait = interval;
    if (options.seconds > 0) {
      double left = options.seconds - elapsed;
      if (left <= 0) break;
      wait = std::min(wait, std::chrono::nanoseconds(static_cast<std::int64_t>(left * 1e9)));
    }
    bool stopped = false;
    if (!options.tick) {
      stopped = stop.sleep_for(wait);
    } else {
      const std::uint64_t until = monotonic_ns() + static_cast<std::uint64_t>(wait.count());
      for (std::uint64_t t = monotonic_ns(); !stopped && t < until; t = monotonic_ns()) {
        options.tick();
        stopped = stop.sleep_for(std::min<std::chrono::nanoseconds>(std::chrono::milliseconds(100),
                                                                    std::chrono::nanoseconds(until - t)));
      }
    }
    std::uint64_t now = monotonic_ns();
    PageCensus census = take_census(tracker.pages(), now, options.heat);
    ObserveSample sample = make_sample(before, census, tracker.counters(), static_cast<double>(now - start) / 1e9,
                                       static_cast<double>(now - last) / 1e9);
    add_to_summary(summary, sample);
    if (options.json) {
      out << sample_to_json(sample).dump() << '\n';
    } else {
      out << format_sample(sample) << '\n';
    }
    out.flush();
    before = census;
    last = now;
    if (stopped) break;
  }
  return summary;
}

}  // namespace dpdc
