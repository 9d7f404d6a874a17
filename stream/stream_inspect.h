#pragma once
// `dpdc-engine inspect`: what a migration stream contains, section by section
// and RAM iteration by iteration, as text or JSON.
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stream/stream_format.h"

namespace dpdc::stream {

struct PageCounts {
  uint64_t pages = 0;       // PAGE records (QEMU's query-migrate "normal")
  uint64_t zero_pages = 0;  // ZERO records (QEMU's query-migrate "duplicate")
  uint64_t bytes = 0;       // wire bytes of those records (headers + idstr + data)
  PageCounts& operator+=(const PageCounts& o) {
    pages += o.pages;
    zero_pages += o.zero_pages;
    bytes += o.bytes;
    return *this;
  }
};

struct SectionSummary {
  uint64_t offset = 0;  // stream offset of the type byte
  std::string type;     // "START", "PART", "END", "FULL", "COMMAND"
  uint32_t section_id = 0;
  std::string idstr;
  uint32_t instance_id = 0, version_id = 0;
  uint64_t size = 0;  // bytes, header through footer
};

struct BlockSummary {
  std::string idstr;
  uint64_t used_length = 0;
  std::optional<uint64_t> gpa;
  std::vector<PageCounts> per_iteration;  // index = RAM section ordinal (0 = START)
  PageCounts total;
};

struct InspectReport {
  uint64_t stream_bytes = 0;
  uint32_t version = 0;
  std::string machine;
  std::vector<std::string> capabilities;
  std::vector<SectionSummary> sections;
  std::vector<BlockSummary> blocks;
  std::vector<std::string> iterations;  // RAM section kinds in order: "START", "PART", ..., "END"
  PageCounts total;
  bool has_vmdesc = false;
  std::vector<std::string> vmdesc_devices;  // "name/instance_id"
};

// Parses a whole stream; throws StreamError on a malformed one.
InspectReport inspect(std::span<const uint8_t> stream);
std::string render_text(const InspectReport& report);
nlohmann::json to_json(const InspectReport& report);
// to_json() as text; bytes of a name that are not UTF-8 (a stream's idstr or
// machine name are any bytes) become U+FFFD instead of failing the report.
std::string render_json(const InspectReport& report);

// Reads `path` (in chunks, through the streaming reader), writes the report to
// `out` as text or JSON, returns 0. Throws StreamError for a bad stream and
// std::runtime_error when the file cannot be read.
int run_inspect(const std::string& path, bool json, std::ostream& out);

}  // namespace dpdc::stream
