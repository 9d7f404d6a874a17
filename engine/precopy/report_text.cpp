#include "precopy/report_text.h"

#include <cstdio>

namespace dpdc {

namespace {

std::string line(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }
double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }
unsigned long long u(std::uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

std::string format_report(const PrecopyReport& r) {
  std::string out = line("policy %s: %u rounds, %llu pages sent for %llu guest pages (%.2fx), %.1f MiB\n",
                         r.policy.c_str(), r.totals.rounds, u(r.totals.sent), u(r.totals.total_pages),
                         r.totals.total_pages ? static_cast<double>(r.totals.sent) / static_cast<double>(r.totals.total_pages) : 0.0,
                         mib(r.totals.bytes));
  out += line("  total time %.1f ms, stop-and-copy %.1f ms (%llu pages); stopped because %s\n", ms(r.total_ns),
              ms(r.stop_ns), u(r.final_round.result.sent), r.stop_reason.c_str());
  const PredictionTotals& p = r.prediction;
  out += line("  prediction: %llu pages delayed, %llu dirtied again before being sent (precision %.2f); %llu of %llu sends wasted\n",
              u(p.delayed), u(p.delayed_dirtied_again), p.precision(), u(p.sends_wasted), u(r.totals.sent));
  out += "  round  candidates      sent   skipped      held  new-held  redirtied  sent-again  dirty-after       MiB   time(ms)\n";
  auto row = [&](const RoundStats& s, const char* tag) {
    const RoundResult& x = s.result;
    out += line("  %5u%s %10llu %9llu %9llu %9llu %9llu %10llu %11llu %12llu %9.1f %10.1f\n", x.round, tag,
                u(x.candidates), u(x.sent), u(x.skipped), u(x.held), u(s.delayed_new), u(s.delayed_dirtied_again),
                u(s.sent_again_later), u(x.dirty_after), mib(x.bytes), ms(x.duration_ns));
  };
  for (const auto& s : r.rounds) row(s, " ");
  row(r.final_round, "*");
  out += "  (* stop-and-copy, guest paused)\n";
  return out;
}

std::string format_comparison(const std::vector<PrecopyReport>& reports) {
  std::string out = "policy   rounds   pages sent   data (MiB)   vs first   total (ms)   downtime (ms)\n";
  const PrecopyReport* base = reports.empty() ? nullptr : &reports.front();
  for (const auto& r : reports) {
    double ratio = base && base->totals.bytes ? static_cast<double>(r.totals.bytes) / static_cast<double>(base->totals.bytes) : 0;
    out += line("%-8s %6u %12llu %12.1f %9.3fx %12.1f %15.1f\n", r.policy.c_str(), r.totals.rounds, u(r.totals.sent),
                mib(r.totals.bytes), ratio, ms(r.total_ns), ms(r.stop_ns));
  }
  return out;
}

}  // namespace dpdc
