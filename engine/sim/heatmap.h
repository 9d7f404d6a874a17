#pragma once
// The heatmap: a picture of a dirty-event trace that shows which pages DPDC
// held back during a migration, and why. x = time, y = guest pages (in
// groups of consecutive pages), cell colour = dirty events in that
// (page group x time bin) on a log scale. Over it, the pages the DPDC v2
// policy actually held when the trace is migrated through the simulator
// from `start_s` (hold_replay.h: the code `simulate --policy dpdc` runs):
// a blue hatch for pages held for the stop-and-copy round (final), a teal
// hatch the other way for pages held for one round (deferred), thin lines
// where rounds begin and a thick one where the guest stops. Before the
// migration starts there are no marks: that part is the history the
// predictor learns from. See docs/heatmap.md.
//
// build_heatmap() and render_svg() are pure; write_heatmap_svg() is the one
// function that touches the file system.
//
// Cost of build_heatmap (P pages, E events, G groups, B bins, R rounds):
//   time   one simulated migration (hold_replay.h: every event up to the
//          migration's end applied once, O(P) per round), then
//          O(E + G*(B + R)): one pass over the events, and each round's
//          per-group counts spread over the bins it overlaps.
//   memory the simulator's (about 50 bytes per page), 8 bytes per group and
//          round, 12 bytes per cell.
// 2 Mi pages x 10 M events: see docs/heatmap.md for measured times.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace dpdc {

struct HeatmapOptions {
  unsigned time_bins = 120;    // columns, 1..10000 (fewer if the trace lasts under ~time_bins^2 ns)
  unsigned page_groups = 256;  // rows, 1..100000 (fewer if the guest has fewer pages)
  // The simulated migration, as `simulate` takes it. start_s: seconds into
  // the trace, 0..its length; none: the middle, so the predictor has half
  // the trace as history.
  std::optional<double> start_s;
  double bandwidth_mb_s = 100;            // 0.1..1000000 MB/s (10^6 bytes)
  std::uint64_t downtime_limit_ms = 300;  // 1..3600000
  unsigned width = 1000, height = 600;    // SVG size in px; at least 600 x 400
  std::string title;                      // empty: "Dirty pages and DPDC's held pages"
};

// One iterative pre-copy round of the simulated migration.
struct HeatmapRound {
  std::uint32_t round = 0;          // 1-based
  std::uint64_t start_ns = 0, end_ns = 0;  // trace time; may lie past the trace's end
  std::uint64_t final_pages = 0, deferred_pages = 0;
};

struct Heatmap {
  unsigned time_bins = 0, page_groups = 0;
  std::uint64_t bin_ns = 0;           // bin b covers [b*bin_ns, (b+1)*bin_ns); the last also takes t == its end
  std::uint64_t pages_per_group = 0;  // group g holds pages [g*pages_per_group, (g+1)*pages_per_group)
  std::vector<std::uint32_t> events;  // [group * time_bins + bin]: dirty events in that cell
  // [group * time_bins + bin]: pages of the group the policy held final
  // (resp. deferred) in a round overlapping the bin; with several rounds in
  // one bin, the most of any of them. 0 outside the iterative rounds.
  std::vector<std::uint32_t> held_final, held_deferred;
  std::uint32_t max_events = 0;  // largest value in `events`
  std::uint32_t max_final = 0, max_deferred = 0;

  // The simulated migration (times in ns since the trace began).
  std::vector<HeatmapRound> rounds;
  std::uint64_t start_ns = 0;  // round 1 begins
  std::uint64_t stop_ns = 0;   // guest stopped, stop-and-copy begins
  std::uint64_t end_ns = 0;    // last page sent
  std::string stop_reason;
  double bandwidth_mb_s = 0;
  std::uint64_t downtime_limit_ms = 0;

  // Extras for the picture's captions.
  std::uint64_t pages = 0;         // guest pages covered (group rows may end past it)
  std::uint64_t duration_ns = 0;   // trace length (<= time_bins * bin_ns)
  std::uint64_t total_events = 0;  // sum of `events`

  std::size_t cell(unsigned group, unsigned bin) const { return std::size_t{group} * time_bins + bin; }
  std::uint32_t events_at(unsigned group, unsigned bin) const { return events[cell(group, bin)]; }
  std::uint32_t final_at(unsigned group, unsigned bin) const { return held_final[cell(group, bin)]; }
  std::uint32_t deferred_at(unsigned group, unsigned bin) const { return held_deferred[cell(group, bin)]; }
  std::uint64_t bin_end_ns(unsigned bin) const { return (std::uint64_t{bin} + 1) * bin_ns; }
  // Whether trace time t is in the picture. Rounds and a stop from the
  // trace's end on are not: the simulator replays the trace meanwhile.
  bool within_trace(std::uint64_t t) const { return t < std::max<std::uint64_t>(duration_ns, 1); }
  // Pages in group g (the last group may be short).
  std::uint64_t group_pages(unsigned group) const;
};

// Throws Error(Usage) when an option is out of range (message says which and what to use).
void validate_heatmap_options(const HeatmapOptions& options);

// Bins the events, simulates the migration and spreads each round's held
// pages over the bins it overlaps. Throws Error(Usage) for bad options,
// including a start past the trace's end.
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
