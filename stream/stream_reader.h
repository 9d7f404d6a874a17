#pragma once
// Incremental, validating parser of a QEMU precopy migration stream.
//
// Input model: push. The caller feed()s bytes as they arrive (whole file, or
// socket-sized chunks) and calls next() until it returns nullopt ("need more
// data"), then feeds more; finish() says no more input will come. Why push
// over a growing buffer rather than a pull reader over read_exact(): device
// sections have no length prefix, so finding their end needs look-ahead past
// the footer (see DeviceSectionEvent), which a buffer gives for free; and a
// push API lets an event loop (io_uring, epoll) drive the parser without a
// blocking thread. Each next() parses one item atomically: if the item is
// incomplete nothing is consumed and the same item is retried after feed().
//
// Validation (StreamError with byte offset + section, one line): truncated
// stream, wrong magic/version, unknown section type, configuration not first,
// a configuration subsection twice, more capabilities or RAM blocks than any
// QEMU sends (an item arriving in pieces is parsed again from its start, so
// every count in one is bounded),
// PART/END for an unknown section id, RAM sections after END, unknown RAM
// block, CONTINUE with no previous page record (QEMU 7.2 carries the
// previous block across PART sections, so CONTINUE may open a section), page offset outside
// the block's used length or not page-aligned, unknown RAM flag bits (XBZRLE,
// compression, multifd: not supported), footer missing or with the wrong id,
// a device section or a vmdesc past ReaderOptions's limits, a vmdesc that is
// not JSON or nests too deeply (dpdc/peer_json.h), bytes after the vmdesc.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "stream/byte_io.h"
#include "stream/stream_format.h"

namespace dpdc::stream {

// Spans in events point into the reader's buffer: valid until the next feed().
struct HeaderEvent {
  uint32_t version = 0;
};
struct ConfigurationEvent {
  std::string machine;                        // e.g. "none", "pc-i440fx-7.2"
  std::vector<std::string> capabilities;      // from configuration/capabilities
  std::optional<uint32_t> target_page_bits;   // configuration/target-page-bits
};
// A RAM section (START/PART/END of "ram") opens; its records follow.
struct SectionBeginEvent {
  uint64_t offset = 0;  // stream offset of the section type byte
  SectionType type = SectionType::Part;
  uint32_t section_id = 0;
  std::string idstr;
  uint32_t instance_id = 0, version_id = 0;
};
struct RamSetupEvent {
  uint64_t total_bytes = 0;
  std::vector<RamBlockInfo> blocks;
};
struct RamPageEvent {
  size_t block = 0;       // index into the setup's block list
  uint64_t offset = 0;    // byte offset inside the block, page-aligned
  bool zero = false;      // ZERO record: page filled with `fill` (QEMU: always 0)
  uint8_t fill = 0;
  std::span<const uint8_t> data;  // 4096 bytes for PAGE records, empty for ZERO
  uint64_t wire_bytes = 0;        // size of the whole record on the wire
};
// The RAM section closed: EOS then footer.
struct SectionEndEvent {
  SectionType type = SectionType::Part;
  uint32_t section_id = 0;
  uint64_t size = 0;  // bytes from the type byte through the footer
};
// A section the reader does not parse field by field: FULL sections, and
// START/PART/END of iterable devices other than "ram". Device payloads carry no
// length, so the payload is taken to run until the first "0x7e + be32 section
// id" that is followed by a plausible next record: EOF (then vmdesc or end of
// input), START/FULL with a printable idstr, PART/END of a known section id (the
// section's own included: an iterable device's PART may follow its START), or
// a command. EOF is plausible only as the stream's last item: nothing after it,
// or a whole vmdesc that is a JSON object (QEMU's) or else ends exactly where
// the input ends (decided once finish() is called). Limit: a payload containing those exact bytes (footer + id + a
// plausible header) would be cut short; the footer then fails to match in the
// next record or the device fails to load. Proper parsing needs the vmstate
// field list, which only the vmdesc (at the very end) describes. The search
// resumes where it stopped when more input arrives (a payload is scanned
// once, however it is fed), and gives up past ReaderOptions's limit.
struct DeviceSectionEvent {
  uint64_t offset = 0;
  SectionType type = SectionType::Full;
  uint32_t section_id = 0;
  std::string idstr;
  uint32_t instance_id = 0, version_id = 0;
  std::span<const uint8_t> payload;
  uint64_t size = 0;  // bytes from the type byte through the footer
};
struct CommandEvent {
  uint64_t offset = 0;
  uint16_t command = 0;
  std::span<const uint8_t> data;
};
struct EofEvent {
  uint64_t offset = 0;
};
struct VmdescEvent {
  uint64_t offset = 0;
  nlohmann::json json;  // {"page_size":..,"devices":[...]}
};
// The device entries of a vmdesc that name a device: objects with a string
// "name" and an unsigned "instance_id" (0 when absent). Anything else in a
// peer's vmdesc is skipped, never an exception.
struct VmdescDevice {
  std::string name;
  uint32_t instance_id = 0;
  const nlohmann::json* entry = nullptr;  // points into the vmdesc
};
std::vector<VmdescDevice> vmdesc_devices(const nlohmann::json& vmdesc);

using Event = std::variant<HeaderEvent, ConfigurationEvent, SectionBeginEvent, RamSetupEvent, RamPageEvent,
                           SectionEndEvent, DeviceSectionEvent, CommandEvent, EofEvent, VmdescEvent>;

// Bounds on what a peer can make the reader hold. A QEMU device section's
// state is kilobytes (a few MiB for the largest devices); a vmdesc describes
// each device in a few hundred bytes.
struct ReaderOptions {
  uint64_t max_device_payload_bytes = uint64_t{256} << 20;
  uint32_t max_vmdesc_bytes = 16u << 20;
  // false: the vmdesc is checked for its length and skipped, not parsed
  // (VmdescEvent::json stays null): for a destination that has no use for it.
  bool parse_vmdesc = true;
};

class StreamReader {
 public:
  explicit StreamReader(ReaderOptions options = {}) : options_(options) {}

  void feed(std::span<const uint8_t> bytes);
  // The same without a copy: read up to `want` bytes straight into the span
  // input_space() returns, then commit() how many arrived (at most `want`).
  // The span is valid until the next call of any of the three.
  std::span<uint8_t> input_space(size_t want);
  void commit(size_t n);
  void finish() noexcept { finished_ = true; }  // no more input: truncation is an error now
  // The next event, or nullopt when more input is needed or the stream is done.
  // Throws StreamError on a malformed stream (and, after finish(), a truncated one).
  std::optional<Event> next();
  bool done() const noexcept { return state_ == State::Done; }

  const std::vector<RamBlockInfo>& blocks() const noexcept { return blocks_; }
  uint64_t offset() const noexcept { return base_ + pos_; }  // bytes consumed so far

 private:
  enum class State { Header, Top, Ram, AfterEof, Done, Failed };
  struct SectionInfo {
    std::string idstr;
    uint32_t instance_id = 0, version_id = 0;
  };
  std::optional<Event> step(ByteReader& r);
  std::optional<Event> top_level(ByteReader& r);
  std::optional<Event> ram_record(ByteReader& r);
  Event opaque_section(ByteReader& r, uint64_t start, SectionType type, uint32_t id, const SectionInfo& info);
  bool plausible_next(ByteReader r, uint32_t current_id) const;
  std::string context() const;

  ReaderOptions options_;
  // Where the footer search of a device section stopped for want of input:
  // the section's stream offset, and the stream offset to resume from.
  uint64_t scan_item_ = UINT64_MAX;
  uint64_t scan_next_ = 0;
  std::vector<uint8_t> buf_;  // storage: bytes [pos_, end_) are fed and not yet parsed
  size_t pos_ = 0;     // first unconsumed byte of buf_
  size_t end_ = 0;     // end of the fed bytes
  uint64_t base_ = 0;  // stream offset of buf_[0]
  bool finished_ = false;
  State state_ = State::Header;
  bool any_section_ = false;  // configuration must come before any section
  std::map<uint32_t, SectionInfo> sections_;
  // The RAM section.
  std::optional<uint32_t> ram_id_;
  bool ram_end_seen_ = false;
  bool ignore_shared_ = false;  // blocks carry a GPA in the setup
  std::vector<RamBlockInfo> blocks_;
  // The RAM section currently open.
  SectionType cur_type_ = SectionType::Part;
  uint64_t cur_start_ = 0;
  long last_block_ = -1;  // block of the previous page record, in any section
};

// Parses a complete stream held in memory, calling `on_event` for every event.
template <typename F>
void read_all(std::span<const uint8_t> bytes, F&& on_event) {
  StreamReader r;
  r.feed(bytes);
  r.finish();
  while (auto ev = r.next()) on_event(*ev);
}

}  // namespace dpdc::stream
