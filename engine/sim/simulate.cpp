#include "sim/simulate.h"

#include <ostream>

#include "dpdc/error.h"
#include "policy/policy.h"
#include "precopy/report_text.h"
#include "sim/trace_world.h"
#include "trace/trace.h"

namespace dpdc {

PolicyOptions simulated_policy_options(double bandwidth_mb_s, std::uint64_t downtime_limit_ms) {
  PolicyOptions po;
  po.downtime_limit_ms = downtime_limit_ms;
  po.expected_bandwidth_bytes_per_s = bandwidth_mb_s * 1e6;
  return po;
}

int run_simulate(const SimulateOptions& options, std::ostream& out) {
  if (options.policies.empty()) throw Error(ErrorKind::Usage, "give at least one --policy (xen, qemu or dpdc)");
  if (!(options.bandwidth_mb_s > 0)) throw Error(ErrorKind::Usage, "--bandwidth must be a positive number of MB/s");
  for (const auto& name : options.policies) make_policy(name, {});  // unknown names fail before any work
  Trace trace = read_trace_file(options.trace_path);
  if (options.start_s * 1e9 > static_cast<double>(trace.duration_ns)) {
    throw Error(ErrorKind::Usage, "--start is beyond the end of the trace (" +
                                      std::to_string(static_cast<double>(trace.duration_ns) / 1e9) + " s)");
  }
  const PolicyOptions po = simulated_policy_options(options.bandwidth_mb_s, options.downtime_limit_ms);

  std::vector<PrecopyReport> reports;
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& name : options.policies) {
    auto policy = make_policy(name, po);
    TraceWorld world(trace, {options.bandwidth_mb_s * 1e6, options.start_s});
    PrecopyReport report = run_precopy(world, *policy);
    if (options.json) {
      auto j = report_to_json(report);
      j["estimated_downtime_ms"] = static_cast<double>(report.stop_ns) / 1e6;
      runs.push_back(j);
    } else {
      out << format_report(report) << '\n';
    }
    reports.push_back(std::move(report));
  }
  if (options.json) {
    out << nlohmann::json{{"trace", options.trace_path},
                          {"guest_pages", trace.pages},
                          {"trace_events", trace.events.size()},
                          {"bandwidth_mb_s", options.bandwidth_mb_s},
                          {"downtime_limit_ms", options.downtime_limit_ms},
                          {"start_s", options.start_s},
                          {"runs", runs}}
               .dump(2)
        << '\n';
  } else if (reports.size() > 1) {
    out << format_comparison(reports);
  }
  return 0;
}

int run_synth(const SynthCommand& command, std::ostream& out) {
  if (command.out_path.empty()) throw Error(ErrorKind::Usage, "give --out FILE for the trace");
  Trace t = synthesize_trace(command.synth);
  write_trace_file(command.out_path, t);
  out << "wrote " << t.events.size() << " dirty events over " << static_cast<double>(t.duration_ns) / 1e9 << " s for "
      << t.pages << " pages (" << command.synth.workload << ") to " << command.out_path << '\n';
  return 0;
}

}  // namespace dpdc
