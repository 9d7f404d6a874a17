#pragma once
// `dpdc-engine attach`: find the VMM, check it can be traced, learn its RAM
// layout over QMP, attach the dirty tracker, and do the requested work.
#include <sys/types.h>

#include <cstdint>
#include <iosfwd>
#include <string>

namespace dpdc {

struct AttachOptions {
  pid_t pid = 0;
  std::string qmp;       // empty: found from the VMM's command line
  bool observe = false;
  std::string record;    // trace file: record every dirty event (also prints the observe output)
  std::uint32_t record_ring_mib = 16;
  double seconds = 0;    // observe: 0 = until SIGINT/SIGTERM
  double interval = 1.0; // observe: seconds between samples
  double interval_scan = 0.05;  // --record of a QEMU without dirty ring: seconds between content scans
  std::string dirty_source = "auto";  // auto, ring or content (dirty_source_choice.h)
  bool json = false;
};

// Returns the process exit code; throws Error for everything a user must fix.
int run_attach(const AttachOptions& options, std::ostream& out);

}  // namespace dpdc
