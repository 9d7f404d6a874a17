#pragma once
// Dirty-event traces: what `attach --record` writes and `simulate` and
// `profile` read. One record per KVM dirty-ring push of the traced guest.
//
// File layout, all integers little-endian (the byte order of the BPF ring
// buffer records they are copied from):
//   offset size field
//   0      8    magic "DPDCTRC1"
//   8      4    version (1)
//   12     4    page size (4096)
//   16     8    pages: the guest's page count (valid page indices are below it)
//   24     8    duration_ns: length of the recording (>= the last record's time)
//   32     16*N records: u64 t_ns (since the recording began), u32 page, u32 vcpu
// Records are in non-decreasing time order.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dpdc {

struct TraceEvent {
  std::uint64_t t_ns = 0;
  std::uint32_t page = 0;
  std::uint32_t vcpu = 0;
  bool operator==(const TraceEvent&) const = default;
};

struct Trace {
  std::uint64_t pages = 0;
  std::uint64_t duration_ns = 0;
  std::vector<TraceEvent> events;  // sorted by t_ns
};

inline constexpr std::size_t kTraceHeaderBytes = 32;
inline constexpr std::size_t kTraceRecordBytes = 16;

std::vector<std::uint8_t> encode_trace_header(std::uint64_t pages, std::uint64_t duration_ns);
void encode_trace_event(const TraceEvent& e, std::vector<std::uint8_t>& out);
std::vector<std::uint8_t> encode_trace(const Trace& trace);

// Throws Error(Usage) naming the byte offset on a malformed trace. Records
// out of time order are sorted (events from several CPUs reach the ring
// buffer in reservation order, not strictly in time order).
Trace decode_trace(std::span<const std::uint8_t> bytes);

Trace read_trace_file(const std::string& path);
void write_trace_file(const std::string& path, const Trace& trace);

}  // namespace dpdc
