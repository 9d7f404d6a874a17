#include "cli/progress_output.h"

#include <cstdio>

#include "dpdc/clock.h"
#include "dpdc/error.h"

namespace dpdc {

ProgressStyle parse_progress_style(const std::string& text) {
  if (text == "auto") return ProgressStyle::Auto;
  if (text == "line") return ProgressStyle::Line;
  if (text == "json") return ProgressStyle::Json;
  if (text == "none") return ProgressStyle::None;
  throw Error(ErrorKind::Usage, "--progress " + text + ": choose auto, line, json or none");
}

bool ProgressThrottle::show(const PrecopyProgress& p, std::uint64_t now_ns) {
  const bool new_round = !any_ || p.round != last_round_;
  if (!new_round && p.done != p.total && now_ns - last_ns_ < interval_ns_) return false;
  any_ = true;
  last_round_ = p.round;
  last_ns_ = now_ns;
  return true;
}

namespace {
double mb_per_s(const PrecopyProgress& p) {
  return p.elapsed_ns ? static_cast<double>(p.bytes) * 1e3 / static_cast<double>(p.elapsed_ns) : 0;
}
}  // namespace

nlohmann::json progress_to_json(const PrecopyProgress& p) {
  return {{"type", "progress"},
          {"round", p.round},
          {"final", p.final_round},
          {"done", p.done},
          {"total", p.total},
          {"bytes", p.bytes},
          {"elapsed_ms", p.elapsed_ns / 1'000'000},
          {"mb_per_s", mb_per_s(p)},
          {"dirty_pending", p.dirty_pending}};
}

std::string progress_to_text(const PrecopyProgress& p) {
  const double pct = p.total ? 100.0 * static_cast<double>(p.done) / static_cast<double>(p.total) : 100.0;
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s %u: %5.1f%% of %llu pages, %.1f MB/s, %llu dirtied since the round began",
                p.final_round ? "stop-and-copy" : "round", p.round, pct, static_cast<unsigned long long>(p.total),
                mb_per_s(p), static_cast<unsigned long long>(p.dirty_pending));
  return buf;
}

void ProgressPrinter::operator()(const PrecopyProgress& p) {
  if (!active() || !throttle_.show(p, monotonic_ns())) return;
  if (style_ == ProgressStyle::Json) {
    // One whole line per write, flushed: a reader never sees half an object.
    std::fprintf(out_, "%s\n", progress_to_json(p).dump().c_str());
  } else {
    std::fprintf(out_, "\r%s   ", progress_to_text(p).c_str());
    line_open_ = true;
  }
  std::fflush(out_);
}

ProgressPrinter::~ProgressPrinter() {
  if (line_open_) std::fputc('\n', out_);
}

}  // namespace dpdc
