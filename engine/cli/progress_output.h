#pragma once
// How `attach --to` shows a migration while it runs (--progress): a line
// rewritten in place on a terminal, or one JSON object per line for a
// script (the same fields as the final report's rounds, so a script can
// tell the phase: a new "round" value means the previous round's pages are
// all out and the next round is planned; "final": true is the stop-and-copy).
#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "precopy/precopy.h"

namespace dpdc {

enum class ProgressStyle { Auto, Line, Json, None };

// "auto" (a line when stderr is a terminal, else nothing), "line", "json"
// or "none"; anything else throws a Usage error naming the choices.
ProgressStyle parse_progress_style(const std::string& text);

// Which updates are shown: the first of each round, the last of each round
// (done == total), and otherwise at most one per `interval_ns`. Pure: the
// caller passes the time.
class ProgressThrottle {
 public:
  explicit ProgressThrottle(std::uint64_t interval_ns = 100'000'000) : interval_ns_(interval_ns) {}
  bool show(const PrecopyProgress& p, std::uint64_t now_ns);

 private:
  std::uint64_t interval_ns_;
  std::uint64_t last_ns_ = 0;
  std::uint32_t last_round_ = 0;
  bool any_ = false;
};

// {"type": "progress", "round", "final", "done", "total", "bytes",
//  "elapsed_ms", "mb_per_s", "dirty_pending"}
nlohmann::json progress_to_json(const PrecopyProgress& p);
// "round 2:  40.0% of 512 pages, 20.1 MB/s, 7 dirtied since the round began"
std::string progress_to_text(const PrecopyProgress& p);

// Writes the shown updates to `out` (stderr in the engine) in `style`
// (Auto already resolved by the caller); a line style ends its line when
// destroyed. A style of None shows nothing.
class ProgressPrinter {
 public:
  ProgressPrinter(ProgressStyle style, std::FILE* out) : style_(style), out_(out) {}
  ~ProgressPrinter();
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  void operator()(const PrecopyProgress& p);
  bool active() const { return style_ == ProgressStyle::Line || style_ == ProgressStyle::Json; }

 private:
  ProgressStyle style_;
  std::FILE* out_;
  ProgressThrottle throttle_;
  bool line_open_ = false;
};

}  // namespace dpdc
