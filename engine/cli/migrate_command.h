#pragma once
// `dpdc-engine attach --pid <vmm> --to URI`: a live migration of a running
// dpdc-vm guest. Checks everything it can before touching the guest; the
// source is only paused for the switchover, and resumed again if the
// migration fails after that.
#include <sys/types.h>

#include <cstdint>
#include <iosfwd>
#include <string>

namespace dpdc {

struct MigrateOptions {
  pid_t pid = 0;
  std::string qmp;             // empty: from the VMM's command line
  std::string to;              // destination URI
  std::string policy = "dpdc";
  double max_bandwidth_mb_s = 0;  // 0: no cap
  std::uint64_t downtime_limit_ms = 300;
  double warmup_s = 0;  // watch the guest this long before round 1
  double stall_timeout_s = 60;  // give up on a destination that takes no data this long (0: never)
  std::string record;   // QEMU: trace of what the dirty source saw until the stop
  std::uint32_t record_ring_mib = 16;  // --record with the ring source: the tracker's event buffer
  std::string dirty_source = "auto";  // auto, ring or content (dirty_source_choice.h)
  std::string progress = "auto";  // auto, line, json or none (progress_output.h)
  bool json = false;
};

int run_migrate(const MigrateOptions& options, std::ostream& out);

}  // namespace dpdc
