#include "sim/heatmap.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "base/output_file.h"
#include "dpdc/error.h"
#include "sim/hold_replay.h"

namespace dpdc {

namespace {

constexpr unsigned kMaxBins = 10'000;
constexpr unsigned kMaxGroups = 100'000;
constexpr std::uint64_t kMaxCells = std::uint64_t{1} << 24;
constexpr unsigned kMinWidth = 600, kMinHeight = 400, kMaxSide = 20'000;
// Below 0.1 MB/s a 256 MiB guest takes most of an hour to migrate, and the
// simulator replays the trace over and over meanwhile.
constexpr double kMinBandwidth = 0.1, kMaxBandwidth = 1e6;
constexpr std::uint64_t kMaxDowntimeMs = 3'600'000;

[[noreturn]] void usage(const std::string& message) { throw Error(ErrorKind::Usage, message); }

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return a / b + (a % b != 0); }

std::string number(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", s);
  return buf;
}

// Each round's per-group held counts, spread over the bins the round
// overlaps (a round that sent nothing still marks the bin it began in).
// With several rounds in one bin a cell keeps the largest count: a round
// shorter than a bin stays visible.
void mark_rounds(const HoldReplay& replay, Heatmap& h) {
  for (const HeldRound& r : replay.rounds) {
    if (!h.within_trace(r.start_ns)) break;
    const std::uint64_t end = std::max(r.end_ns, r.start_ns + 1);
    const unsigned first = static_cast<unsigned>(r.start_ns / h.bin_ns);
    const unsigned last = static_cast<unsigned>(std::min<std::uint64_t>(h.time_bins - 1, (end - 1) / h.bin_ns));
    for (unsigned g = 0; g < h.page_groups; ++g) {
      for (unsigned b = first; b <= last; ++b) {
        std::uint32_t& f = h.held_final[h.cell(g, b)];
        std::uint32_t& d = h.held_deferred[h.cell(g, b)];
        f = std::max(f, r.final_by_group[g]);
        d = std::max(d, r.deferred_by_group[g]);
      }
    }
  }
}

}  // namespace

std::uint64_t Heatmap::group_pages(unsigned group) const {
  const std::uint64_t first = std::uint64_t{group} * pages_per_group;
  return first < pages ? std::min(pages_per_group, pages - first) : pages_per_group;
}

void validate_heatmap_options(const HeatmapOptions& o) {
  if (o.time_bins == 0 || o.time_bins > kMaxBins) {
    usage("heatmap time bins (--bins) must be 1.." + std::to_string(kMaxBins) + " (got " + std::to_string(o.time_bins) +
          "); 120 is a good default");
  }
  if (o.page_groups == 0 || o.page_groups > kMaxGroups) {
    usage("heatmap page groups (--groups) must be 1.." + std::to_string(kMaxGroups) + " (got " +
          std::to_string(o.page_groups) + "); 256 is a good default");
  }
  if (std::uint64_t{o.time_bins} * o.page_groups > kMaxCells) {
    usage("heatmap has too many cells (" + std::to_string(std::uint64_t{o.time_bins} * o.page_groups) +
          " > " + std::to_string(kMaxCells) + "); use fewer time bins or page groups");
  }
  if (o.width < kMinWidth || o.height < kMinHeight || o.width > kMaxSide || o.height > kMaxSide) {
    usage("heatmap size " + std::to_string(o.width) + "x" + std::to_string(o.height) + " px is out of range; use " +
          std::to_string(kMinWidth) + "x" + std::to_string(kMinHeight) + " to " + std::to_string(kMaxSide) + "x" +
          std::to_string(kMaxSide));
  }
  if (!(o.bandwidth_mb_s >= kMinBandwidth && o.bandwidth_mb_s <= kMaxBandwidth)) {
    usage("heatmap bandwidth (--bandwidth) must be " + number(kMinBandwidth) + ".." + number(kMaxBandwidth) +
          " MB/s (got " + number(o.bandwidth_mb_s) + "); 100 is simulate's default");
  }
  if (o.downtime_limit_ms == 0 || o.downtime_limit_ms > kMaxDowntimeMs) {
    usage("heatmap downtime limit (--downtime-limit) must be 1.." + std::to_string(kMaxDowntimeMs) + " ms (got " +
          std::to_string(o.downtime_limit_ms) + "); 300 is QEMU's default");
  }
  if (o.start_s && !(*o.start_s >= 0 && std::isfinite(*o.start_s))) {
    usage("heatmap migration start (--start) must be a number of seconds from 0 to the trace's length (got " +
          number(*o.start_s) + ")");
  }
}

Heatmap build_heatmap(const Trace& trace, const HeatmapOptions& options) {
  validate_heatmap_options(options);
  Heatmap h;
  std::uint64_t pages = trace.pages;
  std::uint64_t duration = trace.duration_ns;
  for (const auto& e : trace.events) pages = std::max<std::uint64_t>(pages, std::uint64_t{e.page} + 1);
  if (!trace.events.empty()) duration = std::max(duration, trace.events.back().t_ns);
  pages = std::max<std::uint64_t>(pages, 1);

  const double trace_s = static_cast<double>(duration) / 1e9;
  const double start_s = options.start_s.value_or(trace_s / 2);
  if (start_s > trace_s) {
    usage("heatmap migration start (--start) " + number(start_s) + " s is past the trace's end; use 0.." +
          number(trace_s) + " s");
  }

  h.pages = pages;
  h.duration_ns = duration;
  h.pages_per_group = ceil_div(pages, options.page_groups);
  h.page_groups = static_cast<unsigned>(ceil_div(pages, h.pages_per_group));
  // Whole nanoseconds per bin, and only as many bins as reach the duration, so
  // an event at exactly duration_ns lands in the last bin. That is
  // options.time_bins unless the trace is shorter than about time_bins^2 ns.
  h.bin_ns = std::max<std::uint64_t>(1, ceil_div(duration, options.time_bins));
  h.time_bins = static_cast<unsigned>(std::max<std::uint64_t>(1, ceil_div(duration, h.bin_ns)));
  const unsigned bins = h.time_bins;
  const std::size_t cells = std::size_t{h.page_groups} * bins;
  h.events.assign(cells, 0);
  h.held_final.assign(cells, 0);
  h.held_deferred.assign(cells, 0);

  for (const auto& e : trace.events) {
    const unsigned b = static_cast<unsigned>(std::min<std::uint64_t>(e.t_ns / h.bin_ns, bins - 1));
    ++h.events[h.cell(static_cast<unsigned>(e.page / h.pages_per_group), b)];
  }
  h.total_events = trace.events.size();
  h.max_events = cells ? *std::max_element(h.events.begin(), h.events.end()) : 0;

  // The simulator needs a trace that covers its events; decode_trace makes
  // every file's so, only a hand-built one may need the copy.
  const HoldReplayOptions ro{start_s, options.bandwidth_mb_s, options.downtime_limit_ms};
  HoldReplay replay;
  if (trace.pages == pages && trace.duration_ns == duration) {
    replay = replay_dpdc_holds(trace, ro, h.pages_per_group);
  } else {
    Trace covered = trace;
    covered.pages = pages;
    covered.duration_ns = duration;
    replay = replay_dpdc_holds(covered, ro, h.pages_per_group);
  }
  mark_rounds(replay, h);
  h.max_final = cells ? *std::max_element(h.held_final.begin(), h.held_final.end()) : 0;
  h.max_deferred = cells ? *std::max_element(h.held_deferred.begin(), h.held_deferred.end()) : 0;
  for (const HeldRound& r : replay.rounds) {
    h.rounds.push_back({r.round, r.start_ns, r.end_ns, r.final_pages, r.deferred_pages});
  }
  h.start_ns = replay.start_ns;
  h.stop_ns = replay.stop_ns;
  h.end_ns = replay.end_ns;
  h.stop_reason = replay.stop_reason;
  h.bandwidth_mb_s = options.bandwidth_mb_s;
  h.downtime_limit_ms = options.downtime_limit_ms;
  return h;
}

void write_heatmap_svg(const Trace& trace, const HeatmapOptions& options, const std::string& out_path) {
  if (out_path.empty()) usage("no heatmap output path; pass --out FILE.svg");
  std::string svg = render_svg(build_heatmap(trace, options), options);
  UniqueFd out = create_output_file(out_path, "heatmap");
  write_all(out.get(), std::span(reinterpret_cast<const std::uint8_t*>(svg.data()), svg.size()), out_path);
  if (::close(out.release()) != 0) throw Error(ErrorKind::Runtime, "writing heatmap " + out_path + " failed (disk full?)");
}

}  // namespace dpdc
