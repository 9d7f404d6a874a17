#pragma once
// One live migration, from a traced guest to a stream destination: the QEMU
// stream's frame (header, configuration, RAM setup), the pre-copy rounds of
// the chosen policy, the device sections, EOF and vmdesc. Knows nothing of
// QMP or processes: `attach --to` supplies the guest, the tests an emulated one.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "live/live_world.h"
#include "live/transport.h"
#include "policy/policy.h"
#include "precopy/precopy.h"
#include "stream/stream_writer.h"
#include "track/dirty_source.h"

namespace dpdc {

struct MigrationSetup {
  std::string machine;                        // the configuration section's machine name
  std::vector<stream::RamBlockInfo> blocks;   // every RAM block the destination expects
  std::size_t tracked_block = 0;              // the block the dirty source covers
  std::span<const std::uint8_t> ram;          // contents of blocks[tracked_block]
  int ram_fd = -1;                            // the file mapped as `ram`, if any (LiveWorldOptions::ram_fd)
  const StopFlag* interrupt = nullptr;
  std::function<void(const PrecopyProgress&)> progress;  // optional
  std::function<bool()> vmm_alive;  // optional (LiveWorldOptions::vmm_alive)
  std::function<void()> while_running;  // optional (LiveWorldOptions::while_running)
  // Optional: runs just before the guest is stopped, after the destination
  // has caught up (a QEMU in bitmap mode ends its dirty-rate runs there).
  std::function<void()> before_stop;
  // Watch the guest this long before round 1, so that the policy starts
  // with a dirty history (DPDC then holds back pages it already knows hot).
  std::uint64_t warmup_ns = 0;
};

struct MigrationResult {
  PrecopyReport report;
  std::uint64_t wire_bytes = 0;  // everything the destination received
  // After the last page is queued (ns): writing the device sections, and
  // waiting until the kernel has taken every byte of the stream.
  std::uint64_t device_state_ns = 0;
  std::uint64_t flush_ns = 0;
};

// The stop-and-copy phases as JSON (ms): stop, known_pages, scan_wait,
// found_pages, device_state, flush, and their sum as total.
nlohmann::json switchover_json(const MigrationResult& result);

MigrationResult run_migration(DirtySource& source, GuestControl& guest, const MigrationSetup& setup,
                              Transport& transport, Policy& policy, DeviceStateSource* devices = nullptr);

}  // namespace dpdc
