#pragma once
// Produces a QEMU-compatible precopy migration stream.
//
// Order of a precopy stream (what QEMU 7.2 writes and its loader expects):
//   header                      be32 "QEVM", be32 3                       header()
//   0x07 configuration          machine name (+ capabilities subsection)  configuration()
//   0x01 START "ram" 0 v4       MEM_SIZE record + block list, EOS, footer  ram_setup()
//   0x02 PART  (one per iteration) page records, EOS, footer               ram_begin_iteration() /
//                                                                          ram_page() / ram_end_iteration()
//   0x03 END   (final, VM stopped) page records, EOS, footer               ram_begin_final() / ram_page() /
//                                                                          ram_end_iteration()
//   0x04 FULL  one per device   device vmstate payload, footer             device_full()
//   0x00 EOF, 0x06 vmdesc       be32 length + JSON                         eof_and_vmdesc()
// The destination matches START/FULL sections by idstr + instance id and
// PART/END sections by the section id its START carried. Out-of-order calls
// throw std::logic_error: they are bugs in the caller, not in a stream.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stream/stream_format.h"

namespace dpdc::stream {

// Where the bytes go. The engine can put a socket or io_uring underneath.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(std::span<const uint8_t> bytes) = 0;
};

// Collects the stream in memory (tests, inspect, small tools).
class VectorSink : public ByteSink {
 public:
  void write(std::span<const uint8_t> b) override { bytes.insert(bytes.end(), b.begin(), b.end()); }
  std::vector<uint8_t> bytes;
};

// True when a page (or any buffer) is all zero bytes. Word-at-a-time.
bool is_zero_page(std::span<const uint8_t> data) noexcept;

class StreamWriter {
 public:
  // Bytes are buffered and handed to `sink` in chunks of about `flush_threshold`
  // bytes, at every section end, and on flush(); fewer, larger writes suit sockets.
  // Sections are numbered from `first_section_id` upwards in the order they are
  // first written. Never 0: QEMU 7.2's loader finds the entry for a PART/END by
  // the id its START carried, and every entry that had no START yet has id 0, so
  // a RAM section numbered 0 is delivered to the first registered device
  // ("timer") and the load fails.
  explicit StreamWriter(ByteSink& sink, size_t flush_threshold = 256 * 1024, uint32_t first_section_id = 1);

  void header();
  // `capabilities` are the migration capabilities that must match on both sides
  // (QEMU sends them only when some are on, e.g. "x-ignore-shared").
  void configuration(std::string_view machine_name, const std::vector<std::string>& capabilities = {});
  // START "ram": total bytes | MEM_SIZE, then idstr + be64 used length per block
  // (+ be64 GPA per block when `with_gpa`, i.e. x-ignore-shared), EOS, footer.
  void ram_setup(std::vector<RamBlockInfo> blocks, bool with_gpa = false);
  void ram_begin_iteration();  // opens a PART section
  void ram_begin_final();      // opens the END section
  // One page record: ZERO + 0x00 when all zero, PAGE + 4096 bytes otherwise.
  // `offset` must be page-aligned and inside the block's used length.
  void ram_page(size_t block, uint64_t offset, std::span<const uint8_t> page);
  void ram_end_iteration();    // EOS + footer, closes the PART or END section
  // FULL section with an opaque vmstate payload. `vmdesc_entry` is this device's
  // entry for the vmdesc "devices" array; null means a minimal one is made up.
  void device_full(std::string_view idstr, uint32_t instance_id, uint32_t version_id,
                   std::span<const uint8_t> payload, const nlohmann::json& vmdesc_entry = nullptr);
  // The same with the entry already serialized (a JSON object's text, or
  // empty for a made-up one): a switchover can serialize a large device
  // description before the guest stops instead of inside the downtime.
  void device_full_text(std::string_view idstr, uint32_t instance_id, uint32_t version_id,
                        std::span<const uint8_t> payload, std::string_view vmdesc_entry_json);
  // 0x00 EOF, then 0x06 + be32 length + {"page_size":4096,"devices":[...]}. Flushes.
  void eof_and_vmdesc();
  void flush();

  uint32_t ram_section_id() const noexcept { return ram_section_id_; }
  uint64_t bytes_written() const noexcept { return written_ + buf_.size(); }
  const std::vector<RamBlockInfo>& blocks() const noexcept { return blocks_; }

 private:
  enum class State { Initial, Header, Configured, RamIdle, RamOpen, Devices, Done };
  void expect(bool ok, const char* what) const;
  void footer(uint32_t section_id);
  void open_ram(uint8_t type);
  void maybe_flush();

  ByteSink& sink_;
  size_t flush_threshold_;
  std::vector<uint8_t> buf_;
  uint64_t written_ = 0;
  State state_ = State::Initial;
  uint32_t next_section_id_;  // QEMU numbers its sections in registration order (ram is 2)
  uint32_t ram_section_id_ = 0;
  bool ram_final_done_ = false;
  std::vector<RamBlockInfo> blocks_;
  // Block of the previous record in this section (for CONTINUE). QEMU carries it
  // across sections; restarting per section costs one idstr and is valid either way.
  long last_block_ = -1;
  std::string devices_json_;  // the vmdesc "devices" entries, comma-separated JSON text
};

}  // namespace dpdc::stream
