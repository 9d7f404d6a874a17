#include "precopy/precopy.h"

namespace dpdc {

namespace {

// Per-page bookkeeping for the prediction-quality statistics. A delay
// period starts when the policy first holds a page and ends when the page is
// sent; it was right if the page was dirtied again within it (sending it at
// the start would have been wasted). A send was wasted if the page is sent
// again later.
class PageLog {
 public:
  explicit PageLog(std::uint64_t pages) : last_sent_(pages, 0), held_since_(pages, 0), dirtied_while_held_(pages, 0) {}

  void held(const Bitmap& hold, std::uint32_t round, PrecopyReport& report) {
    hold.for_each([&](std::size_t p) {
      if (held_since_[p]) return;
      held_since_[p] = round;
      report.rounds[round - 1].delayed_new++;
      report.prediction.delayed++;
    });
  }
  void dirtied(const Bitmap& dirtied, PrecopyReport& report) {
    dirtied.for_each([&](std::size_t p) {
      if (!held_since_[p] || dirtied_while_held_[p]) return;
      dirtied_while_held_[p] = 1;
      report.rounds[held_since_[p] - 1].delayed_dirtied_again++;
      report.prediction.delayed_dirtied_again++;
    });
  }
  void sent(std::uint64_t page, std::uint32_t round, PrecopyReport& report) {
    if (std::uint32_t before = last_sent_[page]) {
      report.rounds[before - 1].sent_again_later++;
      report.prediction.sends_wasted++;
    } else {
      report.prediction.distinct_pages_sent++;
    }
    last_sent_[page] = round;
    held_since_[page] = 0;
    dirtied_while_held_[page] = 0;
  }

 private:
  std::vector<std::uint32_t> last_sent_;
  std::vector<std::uint32_t> held_since_;
  std::vector<std::uint8_t> dirtied_while_held_;
};

// Sends one round's pages in batches, refreshing the in-flight dirty peek
// before each batch, and keeps the books.
class RoundSender {
 public:
  RoundSender(PrecopyWorld& world, const Policy& policy, const PrecopyOptions& options, PrecopyReport& report,
              std::uint64_t start_ns)
      : world_(world), policy_(policy), options_(options), report_(report), log_(world.total_pages()),
        start_ns_(start_ns) {}

  // `awaiting` receives the pages skipped because they awaited a
  // re-protection (live rounds only).
  void send(const Bitmap& pages, Bitmap& dirtied_now, Bitmap& unproven, Bitmap& awaiting, bool final_round,
            RoundResult& r) {
    std::vector<std::uint64_t> batch;
    batch.reserve(options_.batch_pages);
    const std::uint64_t total = pages.count();
    std::uint64_t seen = 0;
    auto flush = [&] {
      if (!batch.empty()) {
        r.bytes += world_.send_pages(batch, unproven);
        r.sent += batch.size();
        for (auto p : batch) log_.sent(p, r.round, report_);
        batch.clear();
      }
      if (options_.progress) {
        options_.progress({r.round, final_round, seen, total, report_.totals.bytes + r.bytes,
                           world_.now_ns() - start_ns_, final_round ? 0 : dirtied_now.count()});
      }
    };
    auto visit = [&](std::size_t p) {
      if (seen++ % options_.batch_pages == 0) {
        flush();
        if (!final_round) world_.collect_dirty(dirtied_now);
      }
      if (!final_round && policy_.skip_in_flight(p, dirtied_now)) {
        ++r.skipped;
        return;
      }
      if (!final_round && world_.awaiting_reset(p)) {
        ++r.skipped;
        awaiting.set(p);
        return;
      }
      batch.push_back(p);
    };
    // Pages the world sends without reading them go first (see
    // PrecopyWorld::send_early). Decided once, so that no page is visited twice.
    Bitmap early(pages.size());
    world_.send_early(pages, early);
    if (early.any()) {
      Bitmap rest = pages;
      rest.subtract(early);
      early.for_each(visit);
      rest.for_each(visit);
    } else {
      pages.for_each(visit);
    }
    flush();
  }

  PageLog& log() { return log_; }

 private:
  PrecopyWorld& world_;
  const Policy& policy_;
  const PrecopyOptions& options_;
  PrecopyReport& report_;
  PageLog log_;
  std::uint64_t start_ns_;
};

}  // namespace

PrecopyReport run_precopy(PrecopyWorld& world, Policy& policy, const PrecopyOptions& options) {
  PrecopyReport report;
  report.policy = std::string(policy.name());
  const std::uint64_t n = world.total_pages();
  report.totals.total_pages = n;

  Bitmap candidates(n), send(n), hold(n), dirtied_now(n), unproven(n), awaiting(n);
  candidates.fill();
  Bitmap discard(n);
  world.collect_dirty(discard);  // history before round 1 is covered by sending every page

  double bandwidth = 0;
  const std::uint64_t start = world.now_ns();
  RoundSender sender(world, policy, options, report, start);
  PageLog& log = sender.log();
  for (std::uint32_t round = 1;; ++round) {
    // The round's record lives in the report from the start: PageLog counts
    // later rounds' outcomes into it.
    report.rounds.emplace_back();
    RoundStats& st = report.rounds.back();
    RoundResult& r = st.result;
    r.round = round;
    r.candidates = candidates.count();
    RoundPlan plan{round, &candidates, world.history(), world.now_ns(), n, bandwidth, world.history_resolution_hz()};
    if (round == 1) report.first_plan_ns = plan.now_ns;
    policy.plan(plan, send, hold);
    if (options.planned) options.planned(plan, hold);
    send &= candidates;  // a policy cannot send what is not a candidate
    r.held = hold.count();
    log.held(hold, round, report);

    const std::uint64_t t0 = world.now_ns();
    dirtied_now.clear();
    unproven.clear();
    awaiting.clear();
    world.begin_round(round, false);
    sender.send(send, dirtied_now, unproven, awaiting, false, r);
    world.end_round(round, false);
    world.collect_dirty(dirtied_now);
    r.duration_ns = world.now_ns() - t0;
    r.bandwidth_bytes_per_s =
        r.duration_ns ? static_cast<double>(r.bytes) * 1e9 / static_cast<double>(r.duration_ns) : bandwidth;
    if (r.bytes > 0) bandwidth = r.bandwidth_bytes_per_s;
    st.unproven = unproven.count();
    st.awaiting_reset = awaiting.count();
    log.dirtied(dirtied_now, report);

    // Next round's candidates: what was not sent (held or skipped), what was
    // dirtied during this round, what was sent unproven, and what awaited a
    // re-protection.
    candidates.subtract(send);
    candidates |= dirtied_now;
    candidates |= unproven;
    candidates |= awaiting;
    // Pages skipped in flight were dirtied, so they are in dirtied_now
    // already; held pages stay candidates.
    r.dirty_after = candidates.count();

    report.totals.sent += r.sent;
    report.totals.bytes += r.bytes;
    report.totals.rounds = round;
    st.decision = policy.finish_round(r, report.totals);
    if (!st.decision.stop && round >= options.hard_max_rounds) {
      st.decision = {true, "reached the engine's hard limit of " + std::to_string(options.hard_max_rounds) + " rounds"};
    }
    if (st.decision.stop) {
      report.stop_reason = st.decision.reason;
      break;
    }
    // The ring is reset by the VMM on its own schedule (QEMU: about once a
    // second). A round that mostly found its pages awaiting that reset
    // would be followed by rounds finding the same, each spending a round
    // of the policy's limit on nothing: wait for the reset instead.
    if (st.awaiting_reset > r.sent) world.await_reset();
  }

  // Stop and copy: the guest no longer writes, so one last collection is complete.
  world.before_stop();
  const std::uint64_t stop_at = world.now_ns();
  world.stop_guest();
  const std::uint64_t stopped_at = world.now_ns();
  // The pages already known to be dirty go out while the last collection
  // looks for the rest: a content scan then overlaps with the destination
  // loading pages instead of leaving it idle.
  Bitmap last(n);
  world.start_last_collect(last);
  RoundStats& fin = report.final_round;
  fin.result.round = report.totals.rounds + 1;
  world.begin_round(fin.result.round, true);
  unproven.clear();
  sender.send(candidates, dirtied_now, unproven, awaiting, true, fin.result);
  const std::uint64_t known_at = world.now_ns();
  world.finish_last_collect();
  const std::uint64_t scanned_at = world.now_ns();
  last.subtract(candidates);
  sender.send(last, dirtied_now, unproven, awaiting, true, fin.result);
  candidates |= last;
  fin.result.candidates = candidates.count();
  world.end_round(fin.result.round, true);
  const std::uint64_t end = world.now_ns();
  report.stop_phases = {stopped_at - stop_at, known_at - stopped_at, scanned_at - known_at, end - scanned_at};
  fin.result.duration_ns = end - stop_at;
  fin.decision = {true, "stop and copy"};
  report.totals.sent += fin.result.sent;
  report.totals.bytes += fin.result.bytes;
  report.totals.rounds = fin.result.round;
  report.total_ns = end - start;
  report.stop_ns = end - stop_at;
  report.policy_settings = policy.describe();
  return report;
}

nlohmann::json report_to_json(const PrecopyReport& report) {
  auto round_json = [](const RoundStats& s) {
    const RoundResult& r = s.result;
    return nlohmann::json{{"round", r.round},
                          {"candidates", r.candidates},
                          {"sent", r.sent},
                          {"skipped", r.skipped},
                          {"delayed", r.held},
                          {"resend_unproven", s.unproven},
                          {"awaiting_reset", s.awaiting_reset},
                          {"delayed_new", s.delayed_new},
                          {"delayed_dirtied_again", s.delayed_dirtied_again},
                          {"sent_again_later", s.sent_again_later},
                          {"dirty_after", r.dirty_after},
                          {"bytes", r.bytes},
                          {"duration_ms", static_cast<double>(r.duration_ns) / 1e6},
                          {"bandwidth_mb_s", r.bandwidth_bytes_per_s / 1e6},
                          {"decision", s.decision.stop ? s.decision.reason : "continue"}};
  };
  nlohmann::json rounds = nlohmann::json::array();
  for (const auto& r : report.rounds) rounds.push_back(round_json(r));
  const PredictionTotals& pr = report.prediction;
  return {{"policy", report.policy},
          {"policy_settings", report.policy_settings},
          {"prediction",
           {{"delayed", pr.delayed},
            {"delayed_dirtied_again", pr.delayed_dirtied_again},
            {"precision", pr.precision()},
            {"sends_wasted", pr.sends_wasted},
            {"distinct_pages_sent", pr.distinct_pages_sent}}},
          {"rounds", rounds},
          {"final_round", round_json(report.final_round)},
          {"stop_reason", report.stop_reason},
          {"totals",
           {{"guest_pages", report.totals.total_pages},
            {"pages_sent", report.totals.sent},
            {"bytes", report.totals.bytes},
            {"rounds", report.totals.rounds},
            {"total_ms", static_cast<double>(report.total_ns) / 1e6},
            {"stop_to_last_page_ms", static_cast<double>(report.stop_ns) / 1e6}}}};
}

}  // namespace dpdc
