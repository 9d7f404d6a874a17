#pragma once
// A pre-copy policy decides, round by round, which dirty pages to send, which
// to hold back, and when to stop iterating. Policies are pure: they see page
// indices, bitmaps, per-page history and measured rates, never a socket or a
// map, so the live engine and the trace simulator drive the same code.
//
// The driver's contract, round r = 1, 2, ...:
//   1. plan(): candidates = pages dirtied since they were last sent (round 1:
//      every page) plus pages the policy held back earlier. The policy fills
//      `send` (a subset of candidates) and `hold` (pages it delays); every
//      candidate in neither is an error of the policy.
//   2. The driver sends `send` in increasing page order, in batches. Before
//      each batch it refreshes `dirtied_now` (pages dirtied since the round
//      began) and asks skip_in_flight() for each page of the batch; a skipped
//      page is not sent and, being dirty, is a candidate next round. The
//      driver itself also skips, whatever the policy, a page whose copy could
//      not be trusted yet (it awaits a ring reset; precopy.h); it counts in
//      `skipped` too and stays a candidate.
//   3. finish_round() reports what happened; the policy answers whether to
//      stop iterating. After a stop the guest is paused and the last round
//      sends every candidate, held or not.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/bitmap.h"
#include "dpdc/dirty_track.h"

namespace dpdc {

struct RoundPlan {
  std::uint32_t round = 1;               // 1-based
  const Bitmap* candidates = nullptr;    // dirty since last sent, plus held
  std::span<const dpdc_page> history;    // per-page dirty history (may be empty in tests)
  std::uint64_t now_ns = 0;
  std::uint64_t total_pages = 0;
  double bandwidth_bytes_per_s = 0;      // measured so far (0 before the first round)
  // The most dirty events per second the history can hold for one page
  // (DirtySource::history_resolution_hz; 0: no bound known). A page whose
  // rate is near it is written as often as the source can see, and may be
  // written far more often.
  double history_resolution_hz = 0;
};

struct RoundResult {
  std::uint32_t round = 1;
  std::uint64_t candidates = 0;    // pages that needed sending at the start of the round
  std::uint64_t sent = 0;          // pages sent in the round
  std::uint64_t skipped = 0;       // skipped in flight (dirtied again before their turn)
  std::uint64_t held = 0;          // delayed by the policy's plan
  std::uint64_t dirty_after = 0;   // next round's candidates: dirty, skipped, held or unproven
  std::uint64_t bytes = 0;
  std::uint64_t duration_ns = 0;
  double bandwidth_bytes_per_s = 0;  // measured over this round
};

struct MigrationTotals {
  std::uint64_t total_pages = 0;   // guest pages
  std::uint64_t sent = 0;          // pages sent so far, all rounds
  std::uint64_t bytes = 0;
  std::uint32_t rounds = 0;        // rounds finished
};

struct StopDecision {
  bool stop = false;
  std::string reason;  // why, in words, for the statistics
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string_view name() const = 0;
  virtual void plan(const RoundPlan& in, Bitmap& send, Bitmap& hold) = 0;
  virtual bool skip_in_flight(std::uint64_t page, const Bitmap& dirtied_now) const {
    (void)page;
    (void)dirtied_now;
    return false;
  }
  virtual StopDecision finish_round(const RoundResult& round, const MigrationTotals& totals) = 0;
  // The policy's settings, for the statistics.
  virtual nlohmann::json describe() const = 0;
};

struct PolicyOptions {
  std::uint64_t downtime_limit_ms = 300;  // QEMU's default
  std::uint32_t max_rounds = 30;          // Xen's bound; qemu: 0 = no bound of its own
  // Used until a round has measured the link: the bandwidth cap when there
  // is one, else QEMU's default max-bandwidth (128 MiB/s).
  double expected_bandwidth_bytes_per_s = 134217728.0;
};

// "xen", "qemu" or "dpdc"; throws Error(Usage) for anything else.
std::unique_ptr<Policy> make_policy(std::string_view name, const PolicyOptions& options);

}  // namespace dpdc
