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

#include "live_world.h"
#include "policy.h"
#include "precopy.h"
#include "stream_writer.h"
#include "transport.h"

namespace dpdc {

// Writes the device sections after the last RAM round, with the guest stopped.
class DeviceStateSource {
 public:
  virtual ~DeviceStateSource() = default;
  virtual void write_sections(stream::StreamWriter& writer) = 0;
};

struct MigrationSetup {
  std::string machine;                        // the configuration section's machine name
  std::vector<stream::RamBlockInfo> blocks;   // blocks[0] is the traced guest RAM
  std::span<const std::uint8_t> ram;          // contents of blocks[0]
  std::uint32_t vcpus = 1;
  const StopFlag* interrupt = nullptr;
  std::function<void(const PrecopyProgress&)> progress;  // optional
};

struct MigrationResult {
  PrecopyReport report;
  std::uint64_t wire_bytes = 0;  // everything the destination received
};

MigrationResult run_migration(DirtyTracker& tracker, GuestControl& guest, const MigrationSetup& setup,
                              Transport& transport, Policy& policy, DeviceStateSource* devices = nullptr);

}  // namespace dpdc
