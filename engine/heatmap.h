#pragma once
// The heatmap: a picture of a dirty-event trace that shows why DPDC delays
// pages. x = time, y = guest pages (in groups of consecutive pages), cell
// colour = dirty events in that (page group x time bin) on a log scale, and
// a blue hatch on cells holding pages the DPDC predictor (classify_page)
// would delay at the end of the bin: denser for a larger share of the group,
// outlined when half or more of the group is delayed. See docs/heatmap.md.
//
// build_heatmap() and render_svg() are pure; write_heatmap_svg() is the one
// function that touches the file system.
//
// Cost of build_heatmap (P pages, E events, G groups, B bins):
//   time   O(E + P + G*B): one pass over the events, one pass over the pages,
//          one prefix sum per group. No per-bin pass over pages: each page
//          record's "delay window" (the range of times at which
//          classify_page says Delay) is an interval, so it is added to the
//          delayed counts as a difference-array range in O(1). That window
//          restates classify_page's rule; if the rule changes, the unit test
//          Heatmap.MatchesClassifyPageBinByBin (brute force) fails.
//   memory 32 bytes per page (one dpdc_page) + 16 bytes per cell.
// 2 Mi pages x 10 M events: 0.5-0.9 s and 64 MiB besides the trace.
#include <cstdint>
#include <string>
#include <vector>

#include "trace.h"

namespace dpdc {

struct HeatmapOptions {
  unsigned time_bins = 120;    // columns, 1..10000 (fewer if the trace lasts under ~time_bins^2 ns)
  unsigned page_groups = 256;  // rows, 1..100000 (fewer if the guest has fewer pages)
  std::uint64_t horizon_ns = 1'000'000'000;  // DPDC horizon given to classify_page
  unsigned width = 1000, height = 600;        // SVG size in px; at least 600 x 400
  std::string title;                          // empty: "Dirty pages and DPDC delays"
};

struct Heatmap {
  unsigned time_bins = 0, page_groups = 0;
  std::uint64_t bin_ns = 0;           // bin b covers [b*bin_ns, (b+1)*bin_ns); the last also takes t == its end
  std::uint64_t pages_per_group = 0;  // group g holds pages [g*pages_per_group, (g+1)*pages_per_group)
  std::vector<std::uint32_t> events;   // [group * time_bins + bin]: dirty events in that cell
  std::vector<std::uint32_t> delayed;  // [group * time_bins + bin]: pages of the group DPDC would delay at the bin's end
  std::uint32_t max_events = 0;        // largest value in `events`
  // Extras for the picture's captions.
  std::uint64_t pages = 0;         // guest pages covered (group rows may end past it)
  std::uint64_t duration_ns = 0;   // trace length (<= time_bins * bin_ns)
  std::uint64_t horizon_ns = 0;    // horizon the delays were computed with
  std::uint64_t total_events = 0;  // sum of `events`
  std::uint32_t max_delayed = 0;   // largest value in `delayed`

  std::uint32_t events_at(unsigned group, unsigned bin) const { return events[std::size_t{group} * time_bins + bin]; }
  std::uint32_t delayed_at(unsigned group, unsigned bin) const { return delayed[std::size_t{group} * time_bins + bin]; }
  std::uint64_t bin_end_ns(unsigned bin) const { return (std::uint64_t{bin} + 1) * bin_ns; }
};

// Throws Error(Usage) when an option is out of range (message says which and what to use).
void validate_heatmap_options(const HeatmapOptions& options);

// Bins events, replays the per-page dpdc_page record as the tracker keeps it
// (prev_ns = last_ns; last_ns = t; ++count) and counts, at the end of every
// bin, the pages classify_page(record, bin_end, horizon_ns) would delay.
// Trace times start at 0 while kernel times never do; the replay treats a
// page as having a previous dirty time exactly when count >= 2, as the
// kernel record does.
Heatmap build_heatmap(const Trace& trace, const HeatmapOptions& options);

// A self-contained SVG document (no scripts, no external fonts).
std::string render_svg(const Heatmap& heatmap, const HeatmapOptions& options);

// build_heatmap + render_svg + write to out_path. Throws Error(Usage) when
// the options are bad or the file cannot be written.
void write_heatmap_svg(const Trace& trace, const HeatmapOptions& options, const std::string& out_path);

// XML text/attribute escaping (& < > " '); control characters become spaces, bytes
// that are not well-formed UTF-8 become '?'.
std::string xml_escape(const std::string& text);

}  // namespace dpdc
