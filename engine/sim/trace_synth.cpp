#include "sim/trace_synth.h"

#include <algorithm>
#include <vector>

#include "dpdc/error.h"
#include "workload/workload_spec.h"
#include "workload/zipf_table.h"

namespace dpdc {

namespace {

// xorshift64*: the guest uses its own generator; only the distribution matters.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
};

}  // namespace

Trace synthesize_trace(const SynthOptions& o) {
  vm::WorkloadSpec spec;
  try {
    spec = vm::parse_workload_spec(o.workload);
  } catch (const vm::WorkloadSpecError& e) {
    throw Error(ErrorKind::Usage, e.what());
  }
  if (o.pages == 0 || o.pages > 0xffffffffull) throw Error(ErrorKind::Usage, "--pages must be 1 .. 2^32-1");
  if (!(o.seconds > 0) || !(o.writes_per_s > 0) || !(o.reap_ms > 0)) {
    throw Error(ErrorKind::Usage, "--seconds, --writes-per-s and --reap-ms must be positive");
  }
  const std::uint64_t pages = spec.pages ? std::min(spec.pages, o.pages) : o.pages;
  Trace t;
  t.pages = o.pages;
  t.duration_ns = static_cast<std::uint64_t>(o.seconds * 1e9);
  if (spec.kind == vm::WorkloadKind::Idle) return t;

  Rng rng{(o.seed ? o.seed : spec.seed) * 0x9E3779B97F4A7C15ull | 1};
  const std::uint64_t hot = std::max<std::uint64_t>(spec.hot_percent ? 1 : 0, pages * spec.hot_percent / 100);
  const std::uint64_t cold = pages - hot;
  std::vector<std::uint32_t> cdf;
  std::uint32_t ranks = 0, mult = 0;
  if (spec.kind == vm::WorkloadKind::Zipf) {
    ranks = vm::zipf_ranks(pages);
    cdf = vm::build_zipf_cdf(ranks, spec.zipf_s);
    mult = vm::zipf_multiplier(ranks);
  }
  auto pick = [&](std::uint64_t i) -> std::uint64_t {
    switch (spec.kind) {
      case vm::WorkloadKind::Ab:
      case vm::WorkloadKind::Seq: return i % pages;
      case vm::WorkloadKind::HotCold: {
        std::uint64_t r = rng.next();
        bool to_hot = (r >> 32) % 100 < spec.write_percent;
        if (cold == 0 || (to_hot && hot != 0)) return (r & 0xffffffffu) % hot;
        return hot + (r & 0xffffffffu) % cold;
      }
      case vm::WorkloadKind::Zipf: {
        std::uint64_t r = rng.next();
        auto u = static_cast<std::uint32_t>(r >> 32);
        auto rank = static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
        vm::PageGroup g = vm::zipf_group(rank, ranks, mult, pages);
        return g.first + (r & 0xffffffffu) % (g.end - g.first);
      }
      case vm::WorkloadKind::Idle: break;
    }
    return 0;
  };

  const auto reap_ns = static_cast<std::uint64_t>(o.reap_ms * 1e6);
  const double step_ns = 1e9 / o.writes_per_s;
  const auto writes = static_cast<std::uint64_t>(o.seconds * o.writes_per_s);
  // Epoch (reap period) of each page's last event, +1 so that 0 means none.
  std::vector<std::uint64_t> last_epoch(pages, 0);
  for (std::uint64_t i = 0; i < writes; ++i) {
    const auto at = static_cast<std::uint64_t>(static_cast<double>(i) * step_ns);
    const std::uint64_t epoch = at / reap_ns + 1;
    const std::uint64_t p = pick(i);
    if (last_epoch[p] == epoch) continue;  // still writable since its last event
    last_epoch[p] = epoch;
    t.events.push_back({at, static_cast<std::uint32_t>(p), 0});
  }
  return t;
}

}  // namespace dpdc
