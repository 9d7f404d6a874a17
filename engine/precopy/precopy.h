#pragma once
// The pre-copy round driver: the one loop every migration runs, live or
// simulated. It owns the candidate set and the statistics and asks the
// policy for decisions; the world (a live VMM with its tracker and stream,
// or a recorded trace with a bandwidth model) does the rest through
// PrecopyWorld.
//
// No lost write: a page counts as sent-and-clean only if the world says its
// contents were read after KVM re-protected it following its last dirty
// event (see `unproven` below); any other page stays a candidate, and the
// last round, run with the guest stopped, sends every remaining candidate.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bitmap.h"
#include "policy/policy.h"

namespace dpdc {

class PrecopyWorld {
 public:
  virtual ~PrecopyWorld() = default;
  virtual std::uint64_t total_pages() const = 0;
  virtual std::uint64_t now_ns() = 0;
  // ORs into `out` every page dirtied since the previous call (the first
  // call: since tracking began).
  virtual void collect_dirty(Bitmap& out) = 0;
  virtual std::span<const dpdc_page> history() = 0;
  // See DirtySource::history_resolution_hz (0: unbounded, as in a trace).
  virtual double history_resolution_hz() { return 0; }
  // See DirtySource::awaiting_reset: a live round skips such a page (it stays
  // a candidate), as of the latest collect_dirty().
  virtual bool awaiting_reset(std::uint64_t /*page*/) { return false; }
  // Waits, within a bound, for the next re-protection: called after a round
  // that left more pages awaiting one than it sent, so that the next round
  // does not find the same pages still waiting.
  virtual void await_reset() {}
  // Round framing for the stream (a PART section per round, END for the last).
  virtual void begin_round(std::uint32_t round, bool final_round) = 0;
  virtual void end_round(std::uint32_t round, bool final_round) = 0;
  // Sends `pages` (increasing order) and returns the bytes they took on the
  // wire. Pages whose contents may predate their re-protection are set in
  // `unproven`; with the guest stopped there are none.
  virtual std::uint64_t send_pages(std::span<const std::uint64_t> pages, Bitmap& unproven) = 0;
  // Pages to send before the others in a round: zero pages known without
  // reading guest RAM cost a few bytes on the wire but real work at the
  // destination, which then does it while the rest of the round is paced out
  // (at the end of a round they would still be queued at the stop).
  // Sets in `early` those of `pages` to send first; leaving it empty keeps
  // page order.
  virtual void send_early(const Bitmap& /*pages*/, Bitmap& /*early*/) const {}
  // Called once, just before stop_guest(), outside the downtime.
  virtual void before_stop() {}
  virtual void stop_guest() = 0;
  // The collection after the stop, possibly beside the sending of the pages
  // already known to be dirty (see DirtySource::start_last_collect). By
  // default, one collect_dirty() in start.
  virtual void start_last_collect(Bitmap& out) { collect_dirty(out); }
  virtual void finish_last_collect() {}
};

struct RoundStats {
  RoundResult result;
  std::uint64_t unproven = 0;  // sent, but to be sent again (read before re-protection)
  // Skipped (and counted in result.skipped) because a copy read then could
  // not have been trusted: the page awaited the re-protection after its
  // latest dirty event (PrecopyWorld::awaiting_reset).
  std::uint64_t awaiting_reset = 0;
  // Prediction quality, counted back into the round where it started: pages
  // first held in this round, how many of them were dirtied again before
  // they were finally sent (the delay was right), and how many of this
  // round's sends were wasted because the page had to be sent again later.
  std::uint64_t delayed_new = 0;
  std::uint64_t delayed_dirtied_again = 0;
  std::uint64_t sent_again_later = 0;
  StopDecision decision;
};

struct PredictionTotals {
  std::uint64_t delayed = 0;                // delay periods (a page held until it is sent)
  std::uint64_t delayed_dirtied_again = 0;  // of those, dirtied again before the send
  std::uint64_t sends_wasted = 0;           // sends that a later send made useless
  std::uint64_t distinct_pages_sent = 0;
  double precision() const { return delayed ? static_cast<double>(delayed_dirtied_again) / static_cast<double>(delayed) : 0; }
};

// Where the stop-and-copy time goes, phase by phase, in the order they run
// (ns; each phase's own duration).
struct StopPhases {
  std::uint64_t stop = 0;         // asking the guest to stop until it has stopped
  std::uint64_t known_pages = 0;  // queueing the pages known dirty before the stop (the last collection runs beside)
  std::uint64_t scan_wait = 0;    // waiting for the last collection to finish after that
  std::uint64_t found_pages = 0;  // queueing what it found, and the VMM's own final pages
};

struct PrecopyReport {
  std::string policy;
  nlohmann::json policy_settings;
  std::vector<RoundStats> rounds;  // iterative rounds
  RoundStats final_round;          // stop-and-copy
  MigrationTotals totals;          // rounds counts the final round too
  PredictionTotals prediction;
  std::string stop_reason;
  std::uint64_t total_ns = 0;      // first page to last page sent
  std::uint64_t stop_ns = 0;       // guest stopped -> last page sent
  StopPhases stop_phases;
  std::uint64_t first_plan_ns = 0;  // world time at which round 1 was planned
};

// Where a migration stands, after every batch (for a progress line).
struct PrecopyProgress {
  std::uint32_t round = 0;
  bool final_round = false;
  std::uint64_t done = 0;           // pages of this round sent or skipped
  std::uint64_t total = 0;          // pages this round set out to send
  std::uint64_t bytes = 0;          // all rounds so far
  std::uint64_t elapsed_ns = 0;     // since the first round began
  std::uint64_t dirty_pending = 0;  // pages dirtied since this round began
};

struct PrecopyOptions {
  std::uint32_t batch_pages = 1024;  // Xen's to_skip refresh interval
  std::uint32_t hard_max_rounds = 1000;
  std::function<void(const PrecopyProgress&)> progress;  // optional
  // Optional: called after each iterative round's plan() with what the
  // policy put in `hold`, before anything is sent (the heatmap draws it).
  std::function<void(const RoundPlan&, const Bitmap& hold)> planned;
};

PrecopyReport run_precopy(PrecopyWorld& world, Policy& policy, const PrecopyOptions& options = {});

nlohmann::json report_to_json(const PrecopyReport& report);

}  // namespace dpdc
