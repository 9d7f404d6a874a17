#pragma once
// Constants of the QEMU migration stream (QEMU 6.2..9.2, verified on 7.2).
// Every multi-byte integer on the wire is big-endian; a string is a u8
// length followed by that many bytes, no NUL. See docs FACTS.md.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dpdc::stream {

// File header: be32 magic "QEVM", be32 version.
inline constexpr uint32_t kMagic = 0x5145564D;
inline constexpr uint32_t kVersion = 3;

// Top-level record types (the first byte of every record after the header).
enum class SectionType : uint8_t {
  Eof = 0x00,
  Start = 0x01,
  Part = 0x02,
  End = 0x03,
  Full = 0x04,
  Subsection = 0x05,  // only inside a device payload or the configuration
  Vmdesc = 0x06,
  Configuration = 0x07,
  Command = 0x08,
  Footer = 0x7e,
};
std::string_view section_type_name(uint8_t type);

// RAM records start with be64 = (offset inside the RAM block) | flags. Offsets are
// page-aligned, so the flags live in the low 12 bits.
namespace ram_flag {
inline constexpr uint64_t kZero = 0x02;      // u8 fill byte follows (always 0 from QEMU)
inline constexpr uint64_t kMemSize = 0x04;   // setup: total bytes, then the block list
inline constexpr uint64_t kPage = 0x08;      // kPageSize raw bytes follow
inline constexpr uint64_t kEos = 0x10;       // end of this section's RAM payload
inline constexpr uint64_t kContinue = 0x20;  // same block as previous record: no idstr
inline constexpr uint64_t kXbzrle = 0x40;    // delta-encoded page (not supported here)
inline constexpr uint64_t kKnown = kZero | kMemSize | kPage | kEos | kContinue;
}  // namespace ram_flag

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kPageMask = ~(kPageSize - 1);

// The RAM section as QEMU registers it: idstr "ram", instance 0, version 4.
inline constexpr std::string_view kRamIdstr = "ram";
inline constexpr uint32_t kRamInstance = 0;
inline constexpr uint32_t kRamVersion = 4;

// Configuration subsection names QEMU 7.2 may send after the machine name.
inline constexpr std::string_view kCapabilitiesSubsection = "configuration/capabilities";
inline constexpr std::string_view kTargetPageBitsSubsection = "configuration/target-page-bits";
inline constexpr std::string_view kUuidSubsection = "configuration/uuid";
// The capability that makes the RAM setup carry a be64 guest physical address per block.
inline constexpr std::string_view kIgnoreSharedCapability = "x-ignore-shared";

// One RAM block as announced in the MEM_SIZE setup record.
struct RamBlockInfo {
  std::string idstr;           // e.g. "pc.ram", "ram" (for -M none), "pc.bios"
  uint64_t used_length = 0;    // bytes; pages must lie inside [0, used_length)
  std::optional<uint64_t> gpa; // only on the wire with x-ignore-shared
  bool operator==(const RamBlockInfo&) const = default;
};

}  // namespace dpdc::stream
