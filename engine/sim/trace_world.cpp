#include "sim/trace_world.h"

#include "dpdc/error.h"

namespace dpdc {

TraceWorld::TraceWorld(const Trace& trace, const TraceWorldOptions& options)
    : trace_(trace), options_(options), history_(trace.pages), pending_(trace.pages), round_sent_(trace.pages) {
  if (!(options_.bandwidth_bytes_per_s > 0)) throw Error(ErrorKind::Usage, "the bandwidth must be positive");
  if (options_.start_s < 0) throw Error(ErrorKind::Usage, "the start time must not be negative");
  // Per-page state is indexed by event page, and the trace repeats with its
  // duration as the period: a trace must cover its events (decode_trace
  // makes every file's do so; a hand-built one may not).
  for (const TraceEvent& e : trace.events) {
    if (e.page >= trace.pages || e.t_ns > trace.duration_ns) {
      throw Error(ErrorKind::Usage, "trace event (page " + std::to_string(e.page) + " at " + std::to_string(e.t_ns) +
                                        " ns) lies outside the trace's " + std::to_string(trace.pages) +
                                        " pages and " + std::to_string(trace.duration_ns) + " ns");
    }
  }
  now_ = static_cast<std::uint64_t>(options_.start_s * 1e9);
  apply_until(now_);
  pending_.clear();  // what happened before the start is history, not dirtiness: round 1 sends everything
}

void TraceWorld::apply_until(std::uint64_t t) {
  if (stopped_) return;
  const auto& ev = trace_.events;
  const std::uint64_t period = trace_.duration_ns;
  for (;;) {
    if (next_event_ == ev.size()) {
      if (ev.empty() || period == 0) return;
      next_event_ = 0;  // the guest goes on as recorded: the trace repeats
      ++loop_;
    }
    const TraceEvent& e = ev[next_event_];
    const std::uint64_t at = e.t_ns + loop_ * period;
    if (at > t) return;
    dpdc_page& h = history_[e.page];
    // Times are shifted by one so that an event at t = 0 still reads as "dirtied".
    h.prev_ns = h.last_ns;
    h.last_ns = at + 1;
    ++h.count;
    h.last_ring = e.vcpu;
    pending_.set(e.page);
    ++next_event_;
  }
}

void TraceWorld::collect_dirty(Bitmap& out) {
  apply_until(now_);
  out |= pending_;
  pending_.clear();
}

std::span<const dpdc_page> TraceWorld::history() {
  apply_until(now_);
  return history_;
}

void TraceWorld::end_round(std::uint32_t, bool) {
  sent_by_round_.push_back(round_sent_);
  round_sent_.clear();
}

std::uint64_t TraceWorld::send_pages(std::span<const std::uint64_t> pages, Bitmap&) {
  for (auto p : pages) round_sent_.set(p);
  const std::uint64_t bytes = pages.size() * kBytesPerPage;
  now_ += static_cast<std::uint64_t>(static_cast<double>(bytes) * 1e9 / options_.bandwidth_bytes_per_s);
  // Writes that happened while these pages were on the wire are visible from now on.
  apply_until(now_);
  return bytes;
}

void TraceWorld::stop_guest() {
  apply_until(now_);
  stopped_ = true;
}

}  // namespace dpdc
