#include "stream/stream_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string_view>

#include "dpdc/peer_json.h"

namespace dpdc::stream {
namespace {

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// Low bits of a RAM record header that QEMU versions have used as flags
// (0x01 FULL .. 0x200 MULTIFD_FLUSH). Set bits above these cannot be flags, so
// they mean the offset itself is not page-aligned.
constexpr uint64_t kFlagBits = 0x3ff;

// An item is parsed from its start again whenever it arrived incomplete, so
// each one that has a count must be bounded, or a peer makes a destination
// fed in pieces work quadratically. QEMU refuses more capabilities than it
// knows (7.2 knows 22); its RAM blocks are its memory backends and ROMs, tens.
constexpr uint32_t kMaxCapabilities = 64;
constexpr size_t kMaxRamBlocks = 4096;

bool printable_idstr(std::span<const uint8_t> s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](uint8_t c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

std::vector<VmdescDevice> vmdesc_devices(const nlohmann::json& vmdesc) {
  std::vector<VmdescDevice> out;
  if (!vmdesc.is_object()) return out;
  const auto devices = vmdesc.find("devices");
  if (devices == vmdesc.end() || !devices->is_array()) return out;
  for (const auto& d : *devices) {
    if (!d.is_object()) continue;
    const auto name = d.find("name");
    if (name == d.end() || !name->is_string()) continue;
    const auto instance = d.find("instance_id");
    if (instance != d.end() && !(instance->is_number_unsigned() && instance->get<uint64_t>() <= UINT32_MAX)) continue;
    out.push_back({name->get<std::string>(), instance == d.end() ? 0u : instance->get<uint32_t>(), &d});
  }
  return out;
}

std::string_view section_type_name(uint8_t type) {
  switch (static_cast<SectionType>(type)) {
    case SectionType::Eof: return "EOF";
    case SectionType::Start: return "START";
    case SectionType::Part: return "PART";
    case SectionType::End: return "END";
    case SectionType::Full: return "FULL";
    case SectionType::Subsection: return "SUBSECTION";
    case SectionType::Vmdesc: return "VMDESC";
    case SectionType::Configuration: return "CONFIGURATION";
    case SectionType::Command: return "COMMAND";
    case SectionType::Footer: return "FOOTER";
  }
  return "UNKNOWN";
}

void StreamReader::feed(std::span<const uint8_t> bytes) {
  const std::span<uint8_t> to = input_space(bytes.size());
  if (!bytes.empty()) std::memcpy(to.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::span<uint8_t> StreamReader::input_space(size_t want) {
  // Drop consumed bytes first so the buffer holds only the unparsed tail.
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    base_ += pos_;
    end_ -= pos_;
    pos_ = 0;
  }
  // Grows (and zero-fills) only past the largest input so far; after that the
  // storage is reused as it is.
  if (buf_.size() - end_ < want) buf_.resize(end_ + want);
  return {buf_.data() + end_, want};
}

void StreamReader::commit(size_t n) {
  if (n > buf_.size() - end_) throw std::logic_error("StreamReader::commit past the space it gave");
  end_ += n;
}

std::string StreamReader::context() const {
  switch (state_) {
    case State::Header: return "header";
    case State::Ram:
      return "section 'ram' id " + std::to_string(ram_id_.value_or(0)) + " (" +
             std::string(section_type_name(static_cast<uint8_t>(cur_type_))) + ")";
    case State::AfterEof: return "vmdesc";
    default: return "top level";
  }
}

std::optional<Event> StreamReader::next() {
  if (state_ == State::Failed) throw StreamError(offset(), "reader", "stream already failed to parse");
  ByteReader r(std::span<const uint8_t>(buf_).subspan(pos_, end_ - pos_), base_ + pos_);
  r.set_context(context());
  try {
    auto ev = step(r);
    pos_ += r.position();  // commit: the item was complete
    return ev;
  } catch (const StreamTruncated&) {
    if (!finished_) return std::nullopt;  // retry the same item once more bytes arrive
    state_ = State::Failed;
    throw;
  } catch (const StreamError&) {
    state_ = State::Failed;
    throw;
  }
}

// Parses exactly one item. All reads happen before any member changes, so a
// StreamTruncated thrown mid-item leaves the reader as it was.
std::optional<Event> StreamReader::step(ByteReader& r) {
  switch (state_) {
    case State::Header: {
      // be32 magic, be32 version.
      uint32_t magic = r.be32();
      if (magic != kMagic) r.fail_at(r.offset() - 4, "wrong magic " + hex(magic) + " (expected 0x5145564d 'QEVM')");
      uint32_t version = r.be32();
      if (version != kVersion)
        r.fail_at(r.offset() - 4, "unsupported stream version " + std::to_string(version) + " (expected 3)");
      state_ = State::Top;
      return HeaderEvent{version};
    }
    case State::Top: return top_level(r);
    case State::Ram: return ram_record(r);
    case State::AfterEof: {
      if (r.at_end() && finished_) {  // the vmdesc is optional
        state_ = State::Done;
        return std::nullopt;
      }
      const uint64_t start = r.offset();
      uint8_t t = r.u8();
      if (t != static_cast<uint8_t>(SectionType::Vmdesc))
        r.fail_at(start, "unexpected byte " + hex(t) + " after EOF (expected vmdesc 0x06)");
      // u8 0x06, be32 length, JSON.
      uint32_t len = r.be32();
      if (len > options_.max_vmdesc_bytes)
        r.fail_at(start, "vmdesc of " + std::to_string(len) + " bytes is over the limit of " +
                             std::to_string(options_.max_vmdesc_bytes >> 20) + " MiB");
      auto text = r.bytes(len);
      nlohmann::json json;
      if (options_.parse_vmdesc) {
        try {
          json = parse_peer_json(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
        } catch (const PeerJsonError& e) {
          r.fail_at(start, std::string("vmdesc is not valid JSON: ") + e.what());
        }
      }
      state_ = State::Done;
      return VmdescEvent{start, std::move(json)};
    }
    case State::Done:
      // No count: a destination fed in pieces has seen only some of them.
      if (!r.at_end()) r.fail("bytes after the vmdesc, which ends a stream");
      return std::nullopt;
    case State::Failed: break;
  }
  return std::nullopt;
}

std::optional<Event> StreamReader::top_level(ByteReader& r) {
  const uint64_t start = r.offset();
  const uint8_t t = r.u8();
  switch (static_cast<SectionType>(t)) {
    case SectionType::Configuration: {
      r.set_context("configuration");
      if (any_section_) r.fail_at(start, "configuration section after other sections (must follow the header)");
      // be32 name length + name (a vmstate VBUFFER), then optional subsections:
      // u8 0x05, string name, be32 version, fields.
      uint32_t len = r.be32();
      if (len > 255) r.fail_at(start + 1, "machine name length " + std::to_string(len) + " is implausible");
      auto name = r.bytes(len);
      ConfigurationEvent ev;
      ev.machine.assign(name.begin(), name.end());
      std::set<std::string> seen;
      while (!r.at_end() || !finished_) {
        if (r.peek_u8() != static_cast<uint8_t>(SectionType::Subsection)) break;
        const uint64_t sub = r.offset();
        r.u8();
        std::string sname = r.str();
        r.be32();  // subsection version
        if (!seen.insert(sname).second) r.fail_at(sub, "configuration subsection '" + sname + "' sent twice");
        if (sname == kCapabilitiesSubsection) {
          uint32_t n = r.be32();  // be32 count, then u8 length + name each
          if (n > kMaxCapabilities)
            r.fail_at(r.offset() - 4, std::to_string(n) + " capabilities, more than the " +
                                          std::to_string(kMaxCapabilities) + " any QEMU has");
          for (uint32_t i = 0; i < n; ++i) ev.capabilities.push_back(r.str());
        } else if (sname == kTargetPageBitsSubsection) {
          ev.target_page_bits = r.be32();
        } else if (sname == kUuidSubsection) {
          r.skip(16);
        } else {
          r.fail_at(sub, "unknown configuration subsection '" + sname + "'");
        }
      }
      any_section_ = true;
      ignore_shared_ = std::find(ev.capabilities.begin(), ev.capabilities.end(), kIgnoreSharedCapability) !=
                       ev.capabilities.end();
      return ev;
    }
    case SectionType::Start:
    case SectionType::Full: {
      // u8 type, be32 section id, string idstr, be32 instance id, be32 version id.
      uint32_t id = r.be32();
      std::string idstr = r.str();
      uint32_t instance = r.be32();
      uint32_t version = r.be32();
      const auto type = static_cast<SectionType>(t);
      r.set_context("section '" + idstr + "' id " + std::to_string(id) + " (" + std::string(section_type_name(t)) +
                    ")");
      SectionInfo info{idstr, instance, version};
      if (idstr == kRamIdstr) {
        if (type == SectionType::Full) r.fail_at(start, "RAM sent as a FULL section is not supported");
        if (ram_id_) r.fail_at(start, "second START of the RAM section");
        if (version != kRamVersion)
          r.fail_at(start, "RAM section version " + std::to_string(version) + " unsupported (expected 4)");
        any_section_ = true;
        sections_[id] = info;
        ram_id_ = id;
        cur_type_ = type;
        cur_start_ = start;
        state_ = State::Ram;
        return SectionBeginEvent{start, type, id, idstr, instance, version};
      }
      auto ev = opaque_section(r, start, type, id, info);
      any_section_ = true;
      sections_[id] = info;
      return ev;
    }
    case SectionType::Part:
    case SectionType::End: {
      // u8 type, be32 section id: the rest is known from the section's START.
      uint32_t id = r.be32();
      auto it = sections_.find(id);
      if (it == sections_.end())
        r.fail_at(start, std::string(section_type_name(t)) + " section for unknown section id " + std::to_string(id));
      const auto type = static_cast<SectionType>(t);
      r.set_context("section '" + it->second.idstr + "' id " + std::to_string(id) + " (" +
                    std::string(section_type_name(t)) + ")");
      if (ram_id_ && id == *ram_id_) {
        if (ram_end_seen_) r.fail_at(start, "RAM section continues after its END");
        cur_type_ = type;
        cur_start_ = start;
        state_ = State::Ram;
        return SectionBeginEvent{start, type, id, it->second.idstr, it->second.instance_id, it->second.version_id};
      }
      SectionInfo info = it->second;
      return opaque_section(r, start, type, id, info);
    }
    case SectionType::Command: {
      // be16 command, be16 length, data.
      uint16_t cmd = r.be16();
      uint16_t len = r.be16();
      auto data = r.bytes(len);
      any_section_ = true;
      return CommandEvent{start, cmd, data};
    }
    case SectionType::Eof:
      state_ = State::AfterEof;
      return EofEvent{start};
    case SectionType::Footer: r.fail_at(start, "footer 0x7e outside a section");
    case SectionType::Subsection: r.fail_at(start, "subsection 0x05 outside a device section");
    case SectionType::Vmdesc: r.fail_at(start, "vmdesc 0x06 before EOF");
  }
  r.fail_at(start, "unknown section type " + hex(t));
}

// Is what `r` points at (just after a candidate footer of section
// `current_id`) a valid next record? Truncation propagates: the caller needs
// more input to decide.
bool StreamReader::plausible_next(ByteReader r, uint32_t current_id) const {
  const uint8_t t = r.u8();
  switch (static_cast<SectionType>(t)) {
    case SectionType::Eof: {
      // The stream's last item: nothing follows, or a whole vmdesc that is a
      // JSON object (QEMU's) or else reaches exactly the end of the input.
      // Until finish() more input may come.
      if (r.at_end()) {
        if (finished_) return true;
        r.u8();  // throws StreamTruncated: decide with more input, or at finish()
      }
      if (r.u8() != static_cast<uint8_t>(SectionType::Vmdesc)) return false;
      const uint32_t len = r.be32();
      // Taken as the end: the vmdesc step then refuses it with the limit,
      // without the reader holding that much input first.
      if (len > options_.max_vmdesc_bytes) return true;
      if (r.remaining() < len && finished_) return false;
      const auto text = r.bytes(len);  // throws StreamTruncated while more may come
      const auto first = std::find_if(text.begin(), text.end(), [](uint8_t c) {
        return c != ' ' && c != '\t' && c != '\n' && c != '\r';
      });
      if (first != text.end() && *first == '{') return true;
      if (!r.at_end()) return false;
      if (!finished_) r.u8();  // throws StreamTruncated: bytes may still follow
      return true;
    }
    case SectionType::Start:
    case SectionType::Full: {
      r.be32();
      const size_t len = r.u8();
      if (!printable_idstr(r.bytes(len))) return false;
      r.be32();
      r.be32();
      return true;
    }
    case SectionType::Part:
    case SectionType::End: {
      const uint32_t id = r.be32();
      return id == current_id || sections_.count(id) != 0;
    }
    case SectionType::Command: {
      r.be16();
      r.be16();
      return true;
    }
    default: return false;
  }
}

Event StreamReader::opaque_section(ByteReader& r, uint64_t start, SectionType type, uint32_t id,
                                   const SectionInfo& info) {
  const size_t payload_pos = r.position();
  // The footer we look for: 0x7e, be32 id.
  const uint8_t footer[5] = {0x7e, static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                             static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
  const uint8_t* base = buf_.data() + pos_;  // r's span starts at buf_[pos_]
  const size_t end = end_ - pos_;
  // A footer further than this cannot end a payload within the limit.
  const uint64_t window = payload_pos + options_.max_device_payload_bytes + 5;
  const size_t stop = static_cast<size_t>(std::min<uint64_t>(end, window));
  size_t i = payload_pos;
  if (scan_item_ == start && scan_next_ > base_ + pos_ + i) i = static_cast<size_t>(scan_next_ - (base_ + pos_));
  // Before each wait for input: where to resume, so no byte is scanned twice.
  auto resume_at = [&](size_t at) {
    scan_item_ = start;
    scan_next_ = base_ + pos_ + at;
  };
  while (true) {
    const void* hit = i < stop ? std::memchr(base + i, 0x7e, stop - i) : nullptr;
    if (!hit) {
      if (end >= window) {
        r.fail_at(start, "device section '" + info.idstr + "' has no footer within " +
                             std::to_string(options_.max_device_payload_bytes >> 20) +
                             " MiB: not a QEMU migration stream, or a corrupt one");
      }
      resume_at(end);
      r.seek(end);
      r.u8();  // throws StreamTruncated: no footer in the data we have
    }
    i = static_cast<size_t>(static_cast<const uint8_t*>(hit) - base);
    if (end - i < 5) {
      resume_at(i);
      r.seek(end);
      r.bytes(5 - (end - i));  // truncated inside a candidate footer
    }
    if (std::memcmp(base + i, footer, 5) == 0) {
      ByteReader after(std::span<const uint8_t>(base, end), base_ + pos_);
      after.set_context(r.context());
      after.seek(i + 5);
      bool plausible = false;
      try {
        plausible = plausible_next(after, id);
      } catch (const StreamTruncated&) {
        // Once the input is complete, a candidate whose next record would run
        // past its end is simply not the footer: the real one may follow.
        if (!finished_) {
          resume_at(i);
          throw;
        }
      }
      if (plausible) break;
    }
    ++i;
  }
  scan_item_ = UINT64_MAX;
  auto payload = std::span<const uint8_t>(base + payload_pos, i - payload_pos);
  r.seek(i + 5);
  return DeviceSectionEvent{start, type, id, info.idstr, info.instance_id, info.version_id, payload,
                            r.offset() - start};
}

std::optional<Event> StreamReader::ram_record(ByteReader& r) {
  const uint64_t start = r.offset();
  // be64 = offset in block | flags (low bits).
  const uint64_t word = r.be64();
  const uint64_t flags = word & ~kPageMask;
  const uint64_t addr = word & kPageMask;
  if (flags & ~kFlagBits)
    r.fail_at(start, "page offset not page-aligned: record header " + hex(word) + " (bits " +
                         hex(flags & ~kFlagBits) + " are not RAM flags)");
  if (flags & ram_flag::kXbzrle)
    r.fail_at(start, "XBZRLE page (flag 0x40) not supported: migrate without the xbzrle capability");
  if (flags & ~ram_flag::kKnown)
    r.fail_at(start, "unknown RAM flag bits " + hex(flags & ~ram_flag::kKnown) +
                         " (compression, RDMA hooks and multifd are not supported)");
  const uint64_t kind = flags & ~ram_flag::kContinue;
  if (kind != ram_flag::kEos && kind != ram_flag::kMemSize && kind != ram_flag::kZero && kind != ram_flag::kPage)
    r.fail_at(start, "RAM record with conflicting flags " + hex(flags));

  if (kind == ram_flag::kEos) {
    // EOS, then the footer: u8 0x7e, be32 section id.
    const uint64_t foot = r.offset();
    const uint8_t f = r.u8();
    if (f != static_cast<uint8_t>(SectionType::Footer))
      r.fail_at(foot, "expected footer 0x7e after EOS, found " + hex(f));
    const uint32_t id = r.be32();
    if (id != *ram_id_)
      r.fail_at(foot, "footer section id " + std::to_string(id) + " does not match section id " +
                          std::to_string(*ram_id_));
    SectionEndEvent ev{cur_type_, id, r.offset() - cur_start_};
    if (cur_type_ == SectionType::End) ram_end_seen_ = true;
    state_ = State::Top;
    return ev;
  }

  if (kind == ram_flag::kMemSize) {
    if (cur_type_ != SectionType::Start || !blocks_.empty())
      r.fail_at(start, "MEM_SIZE record outside the RAM setup");
    // Total bytes in the header word; then string idstr, be64 used length
    // (+ be64 GPA with x-ignore-shared) per block until the lengths add up.
    RamSetupEvent ev{addr, {}};
    std::set<std::string> names;
    uint64_t left = addr;
    while (left > 0) {
      const uint64_t at = r.offset();
      if (ev.blocks.size() == kMaxRamBlocks)
        r.fail_at(at, "more than " + std::to_string(kMaxRamBlocks) + " RAM blocks in the setup");
      RamBlockInfo b;
      b.idstr = r.str();
      b.used_length = r.be64();
      if (ignore_shared_) b.gpa = r.be64();
      if (b.used_length == 0 || b.used_length > left)
        r.fail_at(at, "RAM block '" + b.idstr + "' length " + hex(b.used_length) + " does not fit the total " +
                          hex(addr));
      if (!names.insert(b.idstr).second) r.fail_at(at, "RAM block '" + b.idstr + "' listed twice");
      left -= b.used_length;
      ev.blocks.push_back(std::move(b));
    }
    blocks_ = ev.blocks;
    return ev;
  }

  // ZERO or PAGE: the block is named unless CONTINUE says "same as before".
  size_t block = 0;
  if (flags & ram_flag::kContinue) {
    if (last_block_ < 0) r.fail_at(start, "CONTINUE flag with no previous page record");
    block = static_cast<size_t>(last_block_);
  } else {
    const uint64_t at = r.offset();
    std::string idstr = r.str();
    auto it = std::find_if(blocks_.begin(), blocks_.end(), [&](const RamBlockInfo& b) { return b.idstr == idstr; });
    if (it == blocks_.end())
      r.fail_at(at, blocks_.empty() ? "page for block '" + idstr + "' before the RAM setup"
                                    : "unknown RAM block '" + idstr + "'");
    block = static_cast<size_t>(it - blocks_.begin());
  }
  if (addr >= blocks_[block].used_length)
    r.fail_at(start, "page offset " + hex(addr) + " outside block '" + blocks_[block].idstr + "' (used length " +
                         hex(blocks_[block].used_length) + ")");
  RamPageEvent ev;
  ev.block = block;
  ev.offset = addr;
  if (kind == ram_flag::kZero) {
    ev.zero = true;
    ev.fill = r.u8();  // QEMU memsets the page with this byte; it always sends 0
  } else {
    ev.data = r.bytes(kPageSize);
  }
  ev.wire_bytes = r.offset() - start;
  last_block_ = static_cast<long>(block);
  return ev;
}

}  // namespace dpdc::stream
