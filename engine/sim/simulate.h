#pragma once
// `dpdc-engine simulate`: replays a dirty trace through one or more policies
// on a modelled link and reports what a live migration would have done.
// `dpdc-engine synth`: writes a synthetic trace of a dpdc-vm workload.
#include <iosfwd>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "sim/trace_synth.h"

namespace dpdc {

struct SimulateOptions {
  std::string trace_path;
  std::vector<std::string> policies;  // run in this order; compared side by side when more than one
  double bandwidth_mb_s = 100;        // MB = 10^6 bytes, as QEMU's max-bandwidth
  std::uint64_t downtime_limit_ms = 300;
  double start_s = 0;
  bool json = false;
};

int run_simulate(const SimulateOptions& options, std::ostream& out);

// What a simulated migration tells its policy: the modelled link is known,
// so the policy expects its bandwidth before the first round has measured it.
// `profile` uses the same, so its picture shows what `simulate` ran.
PolicyOptions simulated_policy_options(double bandwidth_mb_s, std::uint64_t downtime_limit_ms);

struct SynthCommand {
  SynthOptions synth;
  std::string out_path;
};

int run_synth(const SynthCommand& command, std::ostream& out);

}  // namespace dpdc
