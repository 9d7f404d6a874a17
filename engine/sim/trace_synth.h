#pragma once
// Synthetic dirty traces: the dpdc-vm workloads run as a model instead of a
// guest, with KVM's dirty-ring behaviour applied, so that policies can be
// compared on traces of known shape (and where no KVM is at hand).
//
// Model: the guest makes `writes_per_s` writes per second, choosing pages
// exactly as the dpdc-vm guest does (same workload names and parameters).
// KVM reports a page once per re-protection; the VMM re-protects every page
// at each reap, every `reap_ms`. So a write yields an event only if its page
// has not had one since the last reap.
#include <cstdint>
#include <string>

#include "trace/trace.h"

namespace dpdc {

struct SynthOptions {
  std::string workload = "hotcold";  // NAME[,key=value,...] as dpdc-vm --workload
  std::uint64_t pages = 65536;       // guest pages
  double seconds = 10;
  double writes_per_s = 200'000;
  double reap_ms = 100;
  std::uint64_t seed = 1;            // overrides the workload's seed= when non-zero
};

// Throws Error(Usage) for bad options.
Trace synthesize_trace(const SynthOptions& options);

}  // namespace dpdc
