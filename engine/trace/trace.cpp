#include "trace/trace.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

#include "base/output_file.h"
#include "dpdc/error.h"

namespace dpdc {

namespace {

constexpr char kMagic[8] = {'D', 'P', 'D', 'C', 'T', 'R', 'C', '1'};
constexpr std::uint32_t kVersion = 1;

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_le(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

[[noreturn]] void bad(std::size_t offset, const std::string& what) {
  throw Error(ErrorKind::Usage, "not a valid dpdc trace at byte " + std::to_string(offset) + ": " + what +
                                    "; record one with dpdc-engine attach --record");
}

}  // namespace

std::vector<std::uint8_t> encode_trace_header(std::uint64_t pages, std::uint64_t duration_ns) {
  std::vector<std::uint8_t> out(kMagic, kMagic + 8);
  put_le(out, kVersion, 4);
  put_le(out, 4096, 4);
  put_le(out, pages, 8);
  put_le(out, duration_ns, 8);
  return out;
}

void encode_trace_event(const TraceEvent& e, std::vector<std::uint8_t>& out) {
  put_le(out, e.t_ns, 8);
  put_le(out, e.page, 4);
  put_le(out, e.vcpu, 4);
}

std::vector<std::uint8_t> encode_trace(const Trace& trace) {
  auto out = encode_trace_header(trace.pages, trace.duration_ns);
  out.reserve(out.size() + trace.events.size() * kTraceRecordBytes);
  for (const auto& e : trace.events) encode_trace_event(e, out);
  return out;
}

Trace decode_trace(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kTraceHeaderBytes) bad(bytes.size(), "shorter than the 32-byte header");
  if (std::memcmp(bytes.data(), kMagic, 8) != 0) bad(0, "wrong magic (expected DPDCTRC1)");
  if (get_le(bytes.data() + 8, 4) != kVersion) bad(8, "unsupported version " + std::to_string(get_le(bytes.data() + 8, 4)));
  if (get_le(bytes.data() + 12, 4) != 4096) bad(12, "page size is not 4096");
  Trace t;
  t.pages = get_le(bytes.data() + 16, 8);
  t.duration_ns = get_le(bytes.data() + 24, 8);
  if (t.pages == 0 || t.pages > 0xffffffffull) bad(16, "page count " + std::to_string(t.pages) + " out of range");
  std::size_t body = bytes.size() - kTraceHeaderBytes;
  if (body % kTraceRecordBytes != 0) {
    bad(kTraceHeaderBytes + body / kTraceRecordBytes * kTraceRecordBytes, "truncated record");
  }
  t.events.reserve(body / kTraceRecordBytes);
  bool sorted = true;
  for (std::size_t off = kTraceHeaderBytes; off < bytes.size(); off += kTraceRecordBytes) {
    TraceEvent e{get_le(bytes.data() + off, 8), static_cast<std::uint32_t>(get_le(bytes.data() + off + 8, 4)),
                 static_cast<std::uint32_t>(get_le(bytes.data() + off + 12, 4))};
    if (e.page >= t.pages) bad(off + 8, "page " + std::to_string(e.page) + " beyond the guest's " + std::to_string(t.pages));
    if (!t.events.empty() && e.t_ns < t.events.back().t_ns) sorted = false;
    t.events.push_back(e);
  }
  if (!sorted) {
    std::stable_sort(t.events.begin(), t.events.end(),
                     [](const TraceEvent& a, const TraceEvent& b) { return a.t_ns < b.t_ns; });
  }
  if (!t.events.empty()) t.duration_ns = std::max(t.duration_ns, t.events.back().t_ns);
  return t;
}

Trace read_trace_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::Usage, "cannot open trace " + path + ": " + std::strerror(errno));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  return decode_trace(bytes);
}

void write_trace_file(const std::string& path, const Trace& trace) {
  auto bytes = encode_trace(trace);
  UniqueFd out = create_output_file(path, "trace");
  write_all(out.get(), bytes, path);
  if (::close(out.release()) != 0) throw Error(ErrorKind::Runtime, "writing trace " + path + " failed");
}

}  // namespace dpdc
