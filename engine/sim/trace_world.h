#pragma once
// A recorded (or synthetic) guest as a PrecopyWorld: the trace's dirty events
// happen on a simulated clock, sending costs bytes / bandwidth, and the page
// history is rebuilt exactly as the kernel program keeps it. Deterministic:
// the same trace, policy and bandwidth always give the same report.
//
// Model limits, by design: every page costs a full PAGE record (4096 + 8
// bytes; a trace does not say which pages are zero), the guest is stopped
// instantly, and a migration that outlasts the trace sees it repeat (the
// guest goes on as recorded), so every policy meets the same steady load.
#include <cstdint>
#include <vector>

#include "precopy/precopy.h"
#include "trace/trace.h"

namespace dpdc {

struct TraceWorldOptions {
  double bandwidth_bytes_per_s = 100e6;
  double start_s = 0;  // migration starts here; the trace before it is history only
};

class TraceWorld final : public PrecopyWorld {
 public:
  static constexpr std::uint64_t kBytesPerPage = DPDC_PAGE_SIZE + 8;

  // Throws Error(Usage) for a bad option, or a trace that does not cover its
  // events (a page at or beyond trace.pages, a time after trace.duration_ns).
  TraceWorld(const Trace& trace, const TraceWorldOptions& options);

  std::uint64_t total_pages() const override { return trace_.pages; }
  std::uint64_t now_ns() override { return now_; }
  void collect_dirty(Bitmap& out) override;
  std::span<const dpdc_page> history() override;
  void begin_round(std::uint32_t, bool) override {}
  void end_round(std::uint32_t round, bool final_round) override;
  std::uint64_t send_pages(std::span<const std::uint64_t> pages, Bitmap& unproven) override;
  void stop_guest() override;

  // Which pages went out in each round (1-based index), for comparing runs.
  const std::vector<Bitmap>& sent_by_round() const { return sent_by_round_; }

 private:
  void apply_until(std::uint64_t t);

  const Trace& trace_;
  TraceWorldOptions options_;
  std::uint64_t now_ = 0;
  std::size_t next_event_ = 0;
  std::uint64_t loop_ = 0;
  bool stopped_ = false;
  std::vector<dpdc_page> history_;
  Bitmap pending_;
  Bitmap round_sent_;
  std::vector<Bitmap> sent_by_round_;
};

}  // namespace dpdc
