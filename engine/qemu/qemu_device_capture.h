#pragma once
// What the engine takes from QEMU's own migration at the switchover: QEMU,
// stopped and with x-ignore-shared on, migrates everything except its shared
// RAM, i.e. the pages of its small private RAM blocks (ROMs, video memory)
// and every device's state. The engine splices these into its own stream.
//
// Rewrites, and why:
//  - the configuration's capabilities subsection is dropped (the engine's
//    stream carries the shared RAM itself, so the destination must not
//    expect x-ignore-shared);
//  - the "globalstate" section says "running": QEMU records the run state at
//    the time of its migration, which is paused because the engine stopped
//    the guest, and a destination that reads "paused" would not resume.
// Pure: parses bytes, writes to a StreamWriter; no I/O.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stream/stream_format.h"
#include "stream/stream_writer.h"

namespace dpdc {

struct CapturedPage {
  std::string block;
  std::uint64_t offset = 0;
  bool zero = false;
  std::vector<std::uint8_t> data;  // 4096 bytes unless zero
};

struct CapturedSection {
  std::string idstr;
  std::uint32_t instance_id = 0, version_id = 0;
  std::vector<std::uint8_t> payload;
  std::string vmdesc_json;  // this device's vmdesc entry as JSON text (empty if QEMU gave none)
};

struct QemuDeviceCapture {
  std::string machine;
  std::vector<std::string> capabilities;
  std::vector<stream::RamBlockInfo> blocks;  // QEMU's block list, as sent in its setup
  std::vector<CapturedPage> pages;           // the last copy of every page QEMU sent
  std::vector<CapturedSection> sections;     // FULL sections, in QEMU's order
};

// Parses a complete precopy stream from a stopped QEMU. Throws Error(Runtime)
// naming what is unsupported (iterative devices other than RAM, commands) or
// malformed.
QemuDeviceCapture capture_qemu_stream(std::span<const std::uint8_t> bytes);

// The globalstate payload (be32 size incl. NUL, 100-byte run state buffer)
// with the run state replaced by "running". Throws Error(Runtime) if the
// payload is not that shape.
std::vector<std::uint8_t> globalstate_running(std::span<const std::uint8_t> payload);

// Writes the captured pages into the writer's open RAM section, mapping block
// names to the writer's block list. Throws Error(Runtime) for a block the
// writer does not list.
void write_captured_pages(const QemuDeviceCapture& capture, stream::StreamWriter& writer);

// Writes the captured device sections as FULL sections.
void write_captured_sections(const QemuDeviceCapture& capture, stream::StreamWriter& writer);

}  // namespace dpdc
