#include "stream/stream_writer.h"

#include <cstring>
#include <stdexcept>

#include "stream/byte_io.h"

namespace dpdc::stream {

bool is_zero_page(std::span<const uint8_t> data) noexcept {
  // Compare 8 bytes at a time (memcpy keeps it alignment-safe and compiles to a
  // plain load); OR-accumulate a block so the loop has few branches.
  const uint8_t* p = data.data();
  size_t n = data.size();
  while (n >= 64) {
    uint64_t acc = 0;
    for (int i = 0; i < 8; ++i) {
      uint64_t w;
      std::memcpy(&w, p + 8 * i, 8);
      acc |= w;
    }
    if (acc != 0) return false;
    p += 64;
    n -= 64;
  }
  for (; n > 0; --n, ++p)
    if (*p != 0) return false;
  return true;
}

StreamWriter::StreamWriter(ByteSink& sink, size_t flush_threshold, uint32_t first_section_id)
    : sink_(sink), flush_threshold_(flush_threshold), next_section_id_(first_section_id) {
  if (first_section_id == 0) throw std::logic_error("StreamWriter: section id 0 is misrouted by QEMU's loader");
  buf_.reserve(flush_threshold_ + kPageSize + 512);
}

void StreamWriter::expect(bool ok, const char* what) const {
  if (!ok) throw std::logic_error(std::string("StreamWriter: ") + what);
}

void StreamWriter::flush() {
  if (buf_.empty()) return;
  sink_.write(buf_);
  written_ += buf_.size();
  buf_.clear();
}

void StreamWriter::maybe_flush() {
  if (buf_.size() >= flush_threshold_) flush();
}

// Footer: u8 0x7e, be32 section id. Lets the loader check it parsed exactly the section's payload.
void StreamWriter::footer(uint32_t section_id) {
  ByteWriter w(buf_);
  w.u8(static_cast<uint8_t>(SectionType::Footer));
  w.be32(section_id);
}

void StreamWriter::header() {
  expect(state_ == State::Initial, "header() must come first");
  ByteWriter w(buf_);
  w.be32(kMagic);
  w.be32(kVersion);
  state_ = State::Header;
}

void StreamWriter::configuration(std::string_view machine_name, const std::vector<std::string>& capabilities) {
  expect(state_ == State::Header, "configuration() must follow header()");
  ByteWriter w(buf_);
  // 0x07, be32 name length, name bytes (a vmstate VBUFFER, hence the 32-bit length).
  w.u8(static_cast<uint8_t>(SectionType::Configuration));
  w.be32(static_cast<uint32_t>(machine_name.size()));
  w.bytes({reinterpret_cast<const uint8_t*>(machine_name.data()), machine_name.size()});
  if (!capabilities.empty()) {
    // Subsection: 0x05, string name, be32 version 1, be32 count, then per
    // capability u8 length + bytes.
    w.u8(static_cast<uint8_t>(SectionType::Subsection));
    w.str(kCapabilitiesSubsection);
    w.be32(1);
    w.be32(static_cast<uint32_t>(capabilities.size()));
    for (const auto& c : capabilities) w.str(c);
  }
  // No footer: the configuration is not a numbered section.
  state_ = State::Configured;
}

void StreamWriter::ram_setup(std::vector<RamBlockInfo> blocks, bool with_gpa) {
  expect(state_ == State::Configured || state_ == State::Header, "ram_setup() must follow header/configuration");
  expect(!blocks.empty(), "ram_setup() needs at least one block");
  uint64_t total = 0;
  for (const auto& b : blocks) {
    expect(b.used_length % kPageSize == 0, "RAM block length must be a multiple of the page size");
    expect(!with_gpa || b.gpa.has_value(), "with_gpa needs a gpa for every block");
    total += b.used_length;
  }
  ram_section_id_ = next_section_id_++;
  ByteWriter w(buf_);
  // START: u8 0x01, be32 section id, string idstr, be32 instance, be32 version.
  w.u8(static_cast<uint8_t>(SectionType::Start));
  w.be32(ram_section_id_);
  w.str(kRamIdstr);
  w.be32(kRamInstance);
  w.be32(kRamVersion);
  // be64 total | MEM_SIZE; the loader reads blocks until their lengths add up to total.
  w.be64(total | ram_flag::kMemSize);
  for (const auto& b : blocks) {
    w.str(b.idstr);
    w.be64(b.used_length);
    if (with_gpa) w.be64(*b.gpa);
  }
  w.be64(ram_flag::kEos);
  footer(ram_section_id_);
  if (!with_gpa)
    for (auto& b : blocks) b.gpa.reset();
  blocks_ = std::move(blocks);
  state_ = State::RamIdle;
  flush();
}

void StreamWriter::open_ram(uint8_t type) {
  expect(state_ == State::RamIdle, "RAM iteration opened outside ram_setup()..devices");
  expect(!ram_final_done_, "RAM END section already written");
  // PART/END: u8 type, be32 section id only (the destination knows the rest from START).
  ByteWriter w(buf_);
  w.u8(type);
  w.be32(ram_section_id_);
  last_block_ = -1;  // CONTINUE never crosses a section boundary
  state_ = State::RamOpen;
}

void StreamWriter::ram_begin_iteration() { open_ram(static_cast<uint8_t>(SectionType::Part)); }

void StreamWriter::ram_begin_final() {
  open_ram(static_cast<uint8_t>(SectionType::End));
  ram_final_done_ = true;
}

void StreamWriter::ram_page(size_t block, uint64_t offset, std::span<const uint8_t> page) {
  expect(state_ == State::RamOpen, "ram_page() outside an iteration");
  expect(block < blocks_.size(), "ram_page(): no such block");
  expect(offset % kPageSize == 0, "ram_page(): offset not page-aligned");
  expect(offset < blocks_[block].used_length, "ram_page(): offset beyond the block's used length");
  expect(page.size() == kPageSize, "ram_page(): page must be 4096 bytes");
  const bool zero = is_zero_page(page);
  const bool same = static_cast<long>(block) == last_block_;
  ByteWriter w(buf_);
  // be64 offset | flags; the idstr follows only when the block changes.
  w.be64(offset | (zero ? ram_flag::kZero : ram_flag::kPage) | (same ? ram_flag::kContinue : 0));
  if (!same) w.str(blocks_[block].idstr);
  if (zero)
    w.u8(0);  // fill byte: QEMU always writes 0
  else
    w.bytes(page);
  last_block_ = static_cast<long>(block);
  maybe_flush();
}

void StreamWriter::ram_end_iteration() {
  expect(state_ == State::RamOpen, "ram_end_iteration() without an open iteration");
  ByteWriter w(buf_);
  w.be64(ram_flag::kEos);
  footer(ram_section_id_);
  state_ = State::RamIdle;
  flush();
}

void StreamWriter::device_full(std::string_view idstr, uint32_t instance_id, uint32_t version_id,
                               std::span<const uint8_t> payload, const nlohmann::json& vmdesc_entry) {
  device_full_text(idstr, instance_id, version_id, payload, vmdesc_entry.is_null() ? "" : vmdesc_entry.dump());
}

void StreamWriter::device_full_text(std::string_view idstr, uint32_t instance_id, uint32_t version_id,
                                    std::span<const uint8_t> payload, std::string_view vmdesc_entry_json) {
  expect(state_ == State::RamIdle || state_ == State::Devices || state_ == State::Configured ||
             state_ == State::Header,
         "device_full() inside an open RAM iteration or after EOF");
  const uint32_t id = next_section_id_++;
  ByteWriter w(buf_);
  // FULL: u8 0x04, be32 section id, string idstr, be32 instance, be32 version, payload, footer.
  w.u8(static_cast<uint8_t>(SectionType::Full));
  w.be32(id);
  w.str(idstr);
  w.be32(instance_id);
  w.be32(version_id);
  w.bytes(payload);
  footer(id);
  if (!devices_json_.empty()) devices_json_ += ',';
  if (vmdesc_entry_json.empty()) {
    devices_json_ += nlohmann::json{{"name", std::string(idstr)},
                                    {"instance_id", instance_id},
                                    {"vmsd_name", std::string(idstr)},
                                    {"version", version_id},
                                    {"fields", nlohmann::json::array()}}
                         .dump();
  } else {
    devices_json_ += vmdesc_entry_json;
  }
  state_ = State::Devices;
  maybe_flush();
}

void StreamWriter::eof_and_vmdesc() {
  expect(state_ != State::RamOpen && state_ != State::Done && state_ != State::Initial,
         "eof_and_vmdesc() with an open iteration, twice, or before header()");
  ByteWriter w(buf_);
  w.u8(static_cast<uint8_t>(SectionType::Eof));
  // Vmdesc: u8 0x06, be32 length, JSON text. QEMU's loader skips it; tools read it.
  const std::string json = "{\"devices\":[" + devices_json_ + "],\"page_size\":" + std::to_string(kPageSize) + "}";
  w.u8(static_cast<uint8_t>(SectionType::Vmdesc));
  w.be32(static_cast<uint32_t>(json.size()));
  w.bytes({reinterpret_cast<const uint8_t*>(json.data()), json.size()});
  state_ = State::Done;
  flush();
}

}  // namespace dpdc::stream
