// Writer -> reader round trips, chunked feeding, and every validation error
// of the reader with the byte offset it must name.
#include <cstring>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "stream/byte_io.h"
#include "stream/stream_format.h"
#include "stream/stream_inspect.h"
#include "stream/stream_reader.h"
#include "stream/stream_writer.h"

namespace dpdc::stream {
namespace {

std::vector<uint8_t> page_of(uint8_t seed) {
  std::vector<uint8_t> p(kPageSize);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(seed + i * 7);
  return p;
}
const std::vector<uint8_t> kZeroPage(kPageSize, 0);

// Events rendered as strings so two parses can be compared and read in failures.
std::string describe(const Event& ev) {
  std::ostringstream o;
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, HeaderEvent>) o << "header " << e.version;
        if constexpr (std::is_same_v<T, ConfigurationEvent>) {
          o << "config " << e.machine;
          for (const auto& c : e.capabilities) o << " +" << c;
        }
        if constexpr (std::is_same_v<T, SectionBeginEvent>)
          o << "begin " << section_type_name(static_cast<uint8_t>(e.type)) << " id " << e.section_id << " "
            << e.idstr << " @" << e.offset;
        if constexpr (std::is_same_v<T, RamSetupEvent>) {
          o << "setup " << e.total_bytes;
          for (const auto& b : e.blocks) o << " " << b.idstr << ":" << b.used_length << ":" << b.gpa.value_or(0);
        }
        if constexpr (std::is_same_v<T, RamPageEvent>) {
          o << "page b" << e.block << " +" << e.offset << (e.zero ? " zero" : " data") << " wire " << e.wire_bytes;
          uint64_t sum = 0;
          for (uint8_t c : e.data) sum = sum * 31 + c;
          if (!e.zero) o << " sum " << sum;
        }
        if constexpr (std::is_same_v<T, SectionEndEvent>)
          o << "end " << section_type_name(static_cast<uint8_t>(e.type)) << " size " << e.size;
        if constexpr (std::is_same_v<T, DeviceSectionEvent>)
          o << "device " << e.idstr << "/" << e.instance_id << " v" << e.version_id << " id " << e.section_id
            << " payload " << e.payload.size() << " size " << e.size;
        if constexpr (std::is_same_v<T, CommandEvent>) o << "command " << e.command;
        if constexpr (std::is_same_v<T, EofEvent>) o << "eof @" << e.offset;
        if constexpr (std::is_same_v<T, VmdescEvent>) o << "vmdesc " << e.json.dump();
      },
      ev);
  return o.str();
}

std::vector<std::string> parse_whole(const std::vector<uint8_t>& s) {
  std::vector<std::string> out;
  read_all(s, [&](const Event& ev) { out.push_back(describe(ev)); });
  return out;
}

std::vector<std::string> parse_chunked(const std::vector<uint8_t>& s, size_t chunk) {
  std::vector<std::string> out;
  StreamReader r;
  for (size_t i = 0; i < s.size(); i += chunk) {
    r.feed(std::span<const uint8_t>(s).subspan(i, std::min(chunk, s.size() - i)));
    while (auto ev = r.next()) out.push_back(describe(*ev));
  }
  r.finish();
  while (auto ev = r.next()) out.push_back(describe(*ev));
  EXPECT_TRUE(r.done());
  return out;
}

// A payload that contains the footer byte, and even a complete fake footer
// (0x7e + this section's id) followed by bytes that are no valid next record.
std::vector<uint8_t> tricky_payload(uint32_t id) {
  std::vector<uint8_t> p{0x7e, 0x7e, 1, 2};
  ByteWriter w(p);
  w.u8(0x7e);
  w.be32(id);
  w.u8(0x09);  // not a section type
  w.u8(0x7e);
  w.be32(id);
  w.u8(0x01);  // START...
  w.be32(7);
  w.u8(2);
  w.u8(0x01);  // ...but an unprintable idstr
  w.u8(0x02);
  w.u8(0x7e);
  return p;
}

struct Built {
  std::vector<uint8_t> bytes;
  uint32_t dev_id = 0;
};

// Two blocks, setup, two PARTs, END, two devices, EOF + vmdesc.
Built full_stream() {
  VectorSink sink;
  StreamWriter w(sink, 1000);  // small threshold: exercise intermediate flushes
  w.header();
  w.configuration("pc-i440fx-7.2");
  w.ram_setup({{"pc.ram", 16 * kPageSize, {}}, {"pc.bios", 4 * kPageSize, {}}});
  w.ram_begin_iteration();
  w.ram_page(0, 0, page_of(1));
  w.ram_page(0, kPageSize, kZeroPage);  // CONTINUE + ZERO
  w.ram_page(1, 3 * kPageSize, page_of(2));
  w.ram_page(0, 15 * kPageSize, page_of(3));
  w.ram_end_iteration();
  w.ram_begin_iteration();
  w.ram_page(0, 2 * kPageSize, kZeroPage);
  w.ram_end_iteration();
  w.ram_begin_final();
  w.ram_page(1, 0, page_of(4));
  w.ram_page(1, kPageSize, page_of(5));
  w.ram_end_iteration();
  const uint32_t dev_id = 2;  // ram took 1
  w.device_full("timer", 0, 2, tricky_payload(dev_id));
  w.device_full("globalstate", 0, 1, std::vector<uint8_t>{0, 0, 0, 8, 'r', 'u', 'n', 'n', 'i', 'n', 'g', 0},
                {{"name", "globalstate"}, {"instance_id", 0}, {"vmsd_name", "globalstate"}, {"version", 1},
                 {"fields", nlohmann::json::array()}});
  w.eof_and_vmdesc();
  EXPECT_EQ(w.bytes_written(), sink.bytes.size());
  return {sink.bytes, dev_id};
}

TEST(StreamCodec, RoundTripEvents) {
  auto s = full_stream().bytes;
  auto ev = parse_whole(s);
  ASSERT_GE(ev.size(), 20u);
  EXPECT_EQ(ev[0], "header 3");
  EXPECT_EQ(ev[1], "config pc-i440fx-7.2");
  EXPECT_EQ(ev[2], "begin START id 1 ram @26");
  EXPECT_EQ(ev[3], "setup 81920 pc.ram:65536:0 pc.bios:16384:0");
  EXPECT_EQ(ev[4], "end START size " + std::to_string(17 + 8 + 7 + 8 + 8 + 8 + 8 + 5));
  EXPECT_EQ(ev[5].rfind("begin PART id 1 ram", 0), 0u);
  // New block: 8 + 1 + 6 idstr + 4096; CONTINUE: 8 + 1 fill byte.
  EXPECT_EQ(ev[6].rfind("page b0 +0 data wire 4111", 0), 0u) << ev[6];
  EXPECT_EQ(ev[7], "page b0 +4096 zero wire 9");
  EXPECT_EQ(ev[8].rfind("page b1 +12288 data wire 4112", 0), 0u) << ev[8];
  EXPECT_EQ(ev[9].rfind("page b0 +61440 data wire 4111", 0), 0u) << ev[9];
  EXPECT_EQ(ev[10].rfind("end PART", 0), 0u);
  EXPECT_EQ(ev[12], "page b0 +8192 zero wire 16");  // a new section names its block again
  EXPECT_EQ(ev[14].rfind("begin END", 0), 0u);
  EXPECT_EQ(ev[17].rfind("end END", 0), 0u);
  EXPECT_EQ(ev[18], "device timer/0 v2 id 2 payload " + std::to_string(tricky_payload(2).size()) + " size " +
                        std::to_string(1 + 4 + 6 + 8 + tricky_payload(2).size() + 5));
  EXPECT_EQ(ev[19].rfind("device globalstate/0 v1 id 3 payload 12", 0), 0u);
  EXPECT_EQ(ev[20].rfind("eof @", 0), 0u);
  auto vm = nlohmann::json::parse(ev[21].substr(7));
  EXPECT_EQ(vm["page_size"], 4096);
  ASSERT_EQ(vm["devices"].size(), 2u);
  EXPECT_EQ(vm["devices"][0]["name"], "timer");
  EXPECT_EQ(vm["devices"][1]["vmsd_name"], "globalstate");
  EXPECT_EQ(ev.size(), 22u);
}

TEST(StreamCodec, PageDataAndPayloadSurviveRoundTrip) {
  auto built = full_stream();
  std::vector<std::vector<uint8_t>> pages, payloads;
  read_all(built.bytes, [&](const Event& ev) {
    if (auto* p = std::get_if<RamPageEvent>(&ev); p && !p->zero) pages.emplace_back(p->data.begin(), p->data.end());
    if (auto* d = std::get_if<DeviceSectionEvent>(&ev)) payloads.emplace_back(d->payload.begin(), d->payload.end());
  });
  ASSERT_EQ(pages.size(), 5u);
  EXPECT_EQ(pages[0], page_of(1));
  EXPECT_EQ(pages[4], page_of(5));
  ASSERT_EQ(payloads.size(), 2u);
  EXPECT_EQ(payloads[0], tricky_payload(built.dev_id));
}

TEST(StreamCodec, ChunkedFeedingMatchesWholeBuffer) {
  auto s = full_stream().bytes;
  auto whole = parse_whole(s);
  for (size_t chunk : {1, 3, 7, 64, 4097, 100000}) EXPECT_EQ(parse_chunked(s, chunk), whole) << "chunk " << chunk;
}

// As a destination reads a socket: it offers the reader's own buffer for more
// than arrives (read() returns short), and commits what came.
TEST(StreamCodec, ReadingIntoTheReadersBufferMatchesWholeBuffer) {
  auto s = full_stream().bytes;
  auto whole = parse_whole(s);
  for (size_t chunk : {1, 3, 4097, 100000}) {
    std::vector<std::string> out;
    StreamReader r;
    for (size_t i = 0; i < s.size(); i += chunk) {
      const size_t n = std::min(chunk, s.size() - i);
      std::span<uint8_t> space = r.input_space(1 << 16);
      ASSERT_GE(space.size(), n);
      std::memcpy(space.data(), s.data() + i, n);
      r.commit(n);
      while (auto ev = r.next()) out.push_back(describe(*ev));
    }
    r.finish();
    while (auto ev = r.next()) out.push_back(describe(*ev));
    EXPECT_TRUE(r.done());
    EXPECT_EQ(out, whole) << "chunk " << chunk;
  }
  StreamReader r;
  r.input_space(8);
  EXPECT_THROW(r.commit(9), std::logic_error);
}

TEST(StreamCodec, IgnoreSharedCarriesGpaPerBlock) {
  VectorSink sink;
  StreamWriter w(sink);
  w.header();
  w.configuration("none", {"x-ignore-shared"});
  w.ram_setup({{"ram", 4 * kPageSize, 0x100000}}, true);
  w.ram_begin_final();
  w.ram_page(0, 0, page_of(9));
  w.ram_end_iteration();
  w.eof_and_vmdesc();
  auto ev = parse_whole(sink.bytes);
  EXPECT_EQ(ev[1], "config none +x-ignore-shared");
  EXPECT_EQ(ev[3], "setup 16384 ram:16384:1048576");
}

TEST(StreamCodec, ZeroPageCheck) {
  std::vector<uint8_t> p(kPageSize, 0);
  EXPECT_TRUE(is_zero_page(p));
  for (size_t i : {size_t{0}, size_t{63}, size_t{64}, size_t{4095}}) {
    p[i] = 1;
    EXPECT_FALSE(is_zero_page(p)) << i;
    p[i] = 0;
  }
  EXPECT_TRUE(is_zero_page(std::span<const uint8_t>(p).subspan(0, 13)));
}

TEST(StreamCodec, WriterNeverUsesSectionIdZero) {
  VectorSink sink;
  EXPECT_THROW(StreamWriter(sink, 1024, 0), std::logic_error);
  StreamWriter w(sink);
  w.header();
  w.ram_setup({{"ram", kPageSize, {}}});
  EXPECT_EQ(w.ram_section_id(), 1u);
}

TEST(StreamCodec, WriterRejectsMisuse) {
  VectorSink sink;
  StreamWriter w(sink);
  EXPECT_THROW(w.ram_begin_iteration(), std::logic_error);
  w.header();
  w.ram_setup({{"ram", 2 * kPageSize, {}}});
  EXPECT_THROW(w.ram_page(0, 0, page_of(1)), std::logic_error);  // no iteration open
  w.ram_begin_iteration();
  EXPECT_THROW(w.ram_page(0, 2 * kPageSize, page_of(1)), std::logic_error);
  EXPECT_THROW(w.ram_page(0, 5, page_of(1)), std::logic_error);
  EXPECT_THROW(w.ram_page(1, 0, page_of(1)), std::logic_error);
}

TEST(StreamCodec, InspectCountsPerBlockAndIteration) {
  auto s = full_stream().bytes;
  auto rep = inspect(s);
  EXPECT_EQ(rep.machine, "pc-i440fx-7.2");
  EXPECT_EQ(rep.stream_bytes, s.size());
  ASSERT_EQ(rep.iterations, (std::vector<std::string>{"START", "PART", "PART", "END"}));
  ASSERT_EQ(rep.blocks.size(), 2u);
  EXPECT_EQ(rep.blocks[0].total.pages, 2u);
  EXPECT_EQ(rep.blocks[0].total.zero_pages, 2u);
  EXPECT_EQ(rep.blocks[0].per_iteration[1].pages, 2u);
  EXPECT_EQ(rep.blocks[0].per_iteration[2].zero_pages, 1u);
  EXPECT_EQ(rep.blocks[1].per_iteration[3].pages, 2u);
  EXPECT_EQ(rep.total.pages, 5u);
  EXPECT_EQ(rep.total.zero_pages, 2u);
  ASSERT_EQ(rep.sections.size(), 6u);
  EXPECT_EQ(rep.sections[4].type, "FULL");
  EXPECT_EQ(rep.sections[4].idstr, "timer");
  EXPECT_EQ(rep.vmdesc_devices, (std::vector<std::string>{"timer/0", "globalstate/0"}));
  auto j = to_json(rep);
  EXPECT_EQ(j["total"]["pages"], 5);
  EXPECT_EQ(j["ram_blocks"][1]["iterations"][3]["kind"], "END");
  auto text = render_text(rep);
  EXPECT_NE(text.find("pc.bios: used length 16384"), std::string::npos) << text;
  EXPECT_NE(text.find("FULL id 2 'timer'"), std::string::npos) << text;
}

TEST(StreamCodec, RunInspectReadsAFile) {
  auto s = full_stream().bytes;
  std::string path = ::testing::TempDir() + "dpdc_stream_inspect.bin";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(s.data()), static_cast<std::streamsize>(s.size()));
  }
  std::ostringstream text, json;
  EXPECT_EQ(run_inspect(path, false, text), 0);
  EXPECT_EQ(run_inspect(path, true, json), 0);
  EXPECT_EQ(text.str(), render_text(inspect(s)));
  EXPECT_EQ(nlohmann::json::parse(json.str()), to_json(inspect(s)));
  s.resize(s.size() - 100);
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(s.data()), static_cast<std::streamsize>(s.size()));
  }
  EXPECT_THROW(run_inspect(path, false, text), StreamError);
  std::remove(path.c_str());
  EXPECT_THROW(run_inspect(path, false, text), std::runtime_error);
}

// Found by fuzz/stream_inspect_fuzz (minimized input: header, configuration
// with the one-byte machine name 0xff, EOF): `inspect --json` failed with the
// JSON library's "invalid UTF-8 byte" instead of writing the report.
TEST(StreamCodec, InspectJsonWritesNamesThatAreNotUtf8) {
  const std::vector<uint8_t> s{'Q', 'E', 'V', 'M', 0, 0, 0, 3, 0x07, 0, 0, 0, 1, 0xff, 0x00};
  const InspectReport report = inspect(s);
  ASSERT_EQ(report.machine, "\xff");
  const std::string text = render_json(report);
  EXPECT_EQ(nlohmann::json::parse(text)["machine"], "\xef\xbf\xbd");  // U+FFFD
}

// ---- validation errors ------------------------------------------------------

// header + configuration "none" + START ram with one 8-page block "ram".
// Offsets: header 0..7, configuration 8..16, START at 17, setup ends at 70.
std::vector<uint8_t> prefix() {
  VectorSink sink;
  StreamWriter w(sink);
  w.header();
  w.configuration("none");
  w.ram_setup({{"ram", 8 * kPageSize, {}}});
  return sink.bytes;
}
constexpr uint64_t kPrefixEnd = 17 + 17 + 8 + 4 + 8 + 8 + 5;  // 67

// Expects a StreamError at `offset` whose message contains `needle`.
void expect_error(const std::vector<uint8_t>& s, uint64_t offset, const std::string& needle,
                  const std::string& section = "") {
  try {
    parse_whole(s);
    ADD_FAILURE() << "no error, expected: " << needle;
  } catch (const StreamError& e) {
    EXPECT_EQ(e.offset(), offset) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    if (!section.empty()) {
      EXPECT_EQ(e.section(), section) << e.what();
    }
  }
}

std::vector<uint8_t> with_part(std::vector<uint8_t> s, uint32_t id, uint64_t word, const std::string& idstr) {
  ByteWriter w(s);
  w.u8(0x02);
  w.be32(id);
  w.be64(word);
  if (!idstr.empty()) w.str(idstr);
  return s;
}

TEST(StreamErrors, PrefixLayoutAsDocumented) { EXPECT_EQ(prefix().size(), kPrefixEnd); }

TEST(StreamErrors, WrongMagic) {
  auto s = prefix();
  s[0] = 'X';
  expect_error(s, 0, "wrong magic 0x5845564d", "header");
}

TEST(StreamErrors, WrongVersion) {
  auto s = prefix();
  s[7] = 2;
  expect_error(s, 4, "unsupported stream version 2", "header");
}

TEST(StreamErrors, TruncatedInsidePage) {
  auto s = with_part(prefix(), 1, ram_flag::kPage, "ram");
  s.resize(s.size() + 100);  // 100 of the 4096 page bytes
  expect_error(s, kPrefixEnd + 5 + 8 + 4, "truncated stream: need 4096 bytes, 100 available",
               "section 'ram' id 1 (PART)");
}

TEST(StreamErrors, TruncatedBeforeEof) {
  auto s = prefix();
  expect_error(s, kPrefixEnd, "truncated stream", "top level");
  s.resize(20);
  expect_error(s, 18, "truncated stream");  // inside START's section id
}

TEST(StreamErrors, UnknownSectionType) {
  auto s = prefix();
  s.push_back(0x09);
  expect_error(s, kPrefixEnd, "unknown section type 0x9");
}

TEST(StreamErrors, PartForUnknownSectionId) {
  expect_error(with_part(prefix(), 5, ram_flag::kEos, ""), kPrefixEnd, "PART section for unknown section id 5");
  auto s = prefix();
  ByteWriter(s).u8(0x03);
  ByteWriter(s).be32(9);
  expect_error(s, kPrefixEnd, "END section for unknown section id 9");
}

TEST(StreamErrors, PageOffsetNotAligned) {
  expect_error(with_part(prefix(), 1, 0x1000 | 0x400 | ram_flag::kPage, "ram"), kPrefixEnd + 5,
               "page offset not page-aligned");
}

TEST(StreamErrors, PageOffsetOutsideBlock) {
  expect_error(with_part(prefix(), 1, 8 * kPageSize | ram_flag::kZero, "ram"), kPrefixEnd + 5,
               "page offset 0x8000 outside block 'ram' (used length 0x8000)");
}

TEST(StreamErrors, UnknownBlock) {
  expect_error(with_part(prefix(), 1, ram_flag::kZero, "pc.ram"), kPrefixEnd + 5 + 8, "unknown RAM block 'pc.ram'");
}

TEST(StreamErrors, ContinueWithoutPreviousBlock) {
  expect_error(with_part(prefix(), 1, ram_flag::kZero | ram_flag::kContinue, ""), kPrefixEnd + 5,
               "CONTINUE flag with no previous page record");
}

TEST(StreamErrors, XbzrleUnsupported) {
  expect_error(with_part(prefix(), 1, ram_flag::kXbzrle, "ram"), kPrefixEnd + 5, "XBZRLE page (flag 0x40) not supported");
}

TEST(StreamErrors, UnknownFlagBits) {
  expect_error(with_part(prefix(), 1, 0x100 | ram_flag::kPage, "ram"), kPrefixEnd + 5, "unknown RAM flag bits 0x100");
}

TEST(StreamErrors, FooterIdMismatch) {
  auto s = with_part(prefix(), 1, ram_flag::kEos, "");
  ByteWriter(s).u8(0x7e);
  ByteWriter(s).be32(3);
  expect_error(s, kPrefixEnd + 5 + 8, "footer section id 3 does not match section id 1");
  s = with_part(prefix(), 1, ram_flag::kEos, "");
  s.push_back(0x01);
  expect_error(s, kPrefixEnd + 5 + 8, "expected footer 0x7e after EOS");
}

TEST(StreamErrors, DeviceSectionWithoutFooterIsTruncated) {
  auto s = prefix();
  ByteWriter w(s);
  w.u8(0x04);
  w.be32(2);
  w.str("timer");
  w.be32(0);
  w.be32(2);
  w.bytes(std::vector<uint8_t>{1, 2, 0x7e, 0, 0, 0, 2});  // footer but nothing valid after it
  expect_error(s, s.size(), "truncated stream");
}

TEST(StreamErrors, ConfigurationMustComeFirst) {
  auto s = prefix();
  ByteWriter w(s);
  w.u8(0x07);
  w.be32(4);
  w.bytes(std::vector<uint8_t>{'n', 'o', 'n', 'e'});
  expect_error(s, kPrefixEnd, "configuration section after other sections");
}

TEST(StreamErrors, TrailingBytesAfterVmdesc) {
  auto s = full_stream().bytes;
  const auto n = s.size();
  s.push_back(0);
  expect_error(s, n, "bytes after the vmdesc");
}

// Found by fuzz/stream_destination_fuzz: the error counted the trailing bytes
// in the reader's buffer, so a destination fed in pieces named a number that
// depended on how the bytes arrived (435 of 2,576).
TEST(StreamErrors, TrailingBytesAreReportedTheSameHoweverFed) {
  auto s = full_stream().bytes;
  s.insert(s.end(), 3000, 0x7e);
  std::string whole;
  try {
    parse_whole(s);
  } catch (const StreamError& e) {
    whole = e.what();
  }
  EXPECT_NE(whole.find("bytes after the vmdesc"), std::string::npos) << whole;
  for (size_t chunk : {1, 512, 4096}) {
    try {
      parse_chunked(s, chunk);
      ADD_FAILURE() << "no error, chunk " << chunk;
    } catch (const StreamError& e) {
      EXPECT_EQ(e.what(), whole) << "chunk " << chunk;
    }
  }
}

// Found by fuzz/stream_destination_fuzz (a 41 KB input timed out fed in
// 64-byte pieces): a configuration's capability count, and the RAM setup's
// block list, were unbounded, and an incomplete item is parsed again from its
// start on every feed, so a destination worked quadratically on one item. The
// minimized input: configuration "pc-i440fx-7.2" with capabilities count
// 0x90909090. Now refused as soon as the count arrives.
std::vector<uint8_t> configuration_with(const std::vector<std::pair<std::string, uint32_t>>& subsections) {
  std::vector<uint8_t> s;
  ByteWriter w(s);
  w.be32(kMagic);
  w.be32(kVersion);
  w.u8(0x07);
  w.be32(13);
  w.bytes(std::vector<uint8_t>{'p', 'c', '-', 'i', '4', '4', '0', 'f', 'x', '-', '7', '.', '2'});
  for (const auto& [name, value] : subsections) {
    w.u8(0x05);
    w.str(name);
    w.be32(1);
    w.be32(value);  // capabilities: the count; target-page-bits: the bits
  }
  return s;
}

TEST(StreamErrors, ACapabilityCountBeyondQemusIsRefusedAtOnce) {
  auto s = configuration_with({{"configuration/capabilities", 0x90909090}});
  const uint64_t count_at = s.size() - 4;
  s.insert(s.end(), 40000, 0x90);
  for (size_t chunk : {size_t{32}, s.size()}) {
    try {
      parse_chunked(s, chunk);
      ADD_FAILURE() << "no error";
    } catch (const StreamError& e) {
      EXPECT_EQ(e.offset(), count_at) << e.what();
      EXPECT_NE(std::string(e.what()).find("2425393296 capabilities"), std::string::npos) << e.what();
    }
  }
}

TEST(StreamErrors, AConfigurationSubsectionSentTwiceIsRefused) {
  auto s = configuration_with({{"configuration/target-page-bits", 12}, {"configuration/target-page-bits", 12}});
  s.push_back(0x00);
  expect_error(s, 8 + 1 + 4 + 13 + 1 + 31 + 4 + 4, "sent twice", "configuration");
}

TEST(StreamErrors, ARamSetupOfMoreBlocksThanQemuHasIsRefused) {
  auto s = prefix();
  s.resize(17 + 17);  // up to the MEM_SIZE record of prefix()'s START
  ByteWriter w(s);
  w.be64(5000 * kPageSize | ram_flag::kMemSize);
  for (int i = 0; i < 5000; ++i) {
    w.str("b" + std::to_string(i));
    w.be64(kPageSize);
  }
  try {
    parse_whole(s);
    ADD_FAILURE() << "no error";
  } catch (const StreamError& e) {
    EXPECT_NE(std::string(e.what()).find("more than 4096 RAM blocks"), std::string::npos) << e.what();
  }
}

TEST(StreamErrors, AVmdescNestedTooDeeplyIsRefused) {
  auto s = full_stream().bytes;
  // The vmdesc is the tail: u8 0x06, be32 length, JSON.
  std::size_t at = s.size();
  for (std::size_t p = 0; p + 5 <= s.size(); ++p) {
    const std::size_t len = (std::size_t{s[p + 1]} << 24) | (std::size_t{s[p + 2]} << 16) | (std::size_t{s[p + 3]} << 8) | s[p + 4];
    if (s[p] == 0x06 && len == s.size() - p - 5) at = p;
  }
  ASSERT_LT(at, s.size());
  s.resize(at);
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"a\":";
  deep += "1" + std::string(100000, '}');
  ByteWriter w(s);
  w.u8(0x06);
  w.be32(static_cast<uint32_t>(deep.size()));
  w.bytes(std::vector<uint8_t>(deep.begin(), deep.end()));
  expect_error(s, at, "vmdesc is not valid JSON: JSON nested deeper than 64 levels");
}

// A device section's header, as QEMU writes it: u8 type, be32 id, then for
// START/FULL the idstr, instance and version.
void device_header(std::vector<uint8_t>& s, uint8_t type, uint32_t id, const std::string& idstr = "") {
  ByteWriter w(s);
  w.u8(type);
  w.be32(id);
  if (type == 0x01 || type == 0x04) {
    w.str(idstr);
    w.be32(0);
    w.be32(1);
  }
}
void footer(std::vector<uint8_t>& s, uint32_t id) {
  ByteWriter w(s);
  w.u8(0x7e);
  w.be32(id);
}
void vmdesc(std::vector<uint8_t>& s, const std::string& text) {
  ByteWriter w(s);
  w.u8(0x00);
  w.u8(0x06);
  w.be32(static_cast<uint32_t>(text.size()));
  w.bytes(std::vector<uint8_t>(text.begin(), text.end()));
}

TEST(StreamDevices, AnIterableDevicesPartRightAfterItsStartIsItsOwnSection) {
  auto s = prefix();
  device_header(s, 0x01, 2, "block");  // START of an iterable device
  s.insert(s.end(), {1, 2, 3});
  footer(s, 2);
  device_header(s, 0x02, 2);  // its first PART, straight after
  s.insert(s.end(), {4, 5});
  footer(s, 2);
  device_header(s, 0x03, 2);
  footer(s, 2);
  s.push_back(0x00);  // EOF, no vmdesc
  auto ev = parse_whole(s);
  std::vector<std::string> devices;
  for (const auto& e : ev)
    if (e.rfind("device", 0) == 0) devices.push_back(e);
  EXPECT_EQ(devices, (std::vector<std::string>{"device block/0 v1 id 2 payload 3 size 27",
                                               "device block/0 v1 id 2 payload 2 size 12",
                                               "device block/0 v1 id 2 payload 0 size 10"}));
  EXPECT_EQ(parse_chunked(s, 1), ev);
}

TEST(StreamDevices, AVmdescThatIsNoJsonObjectStillEndsTheLastSection) {
  for (const std::string& text : {std::string(" {\"page_size\": 4096, \"devices\": []}"), std::string("[1]")}) {
    auto s = prefix();
    device_header(s, 0x04, 2, "timer");
    s.insert(s.end(), {9, 9});
    footer(s, 2);
    vmdesc(s, text);
    auto ev = parse_whole(s);
    ASSERT_GE(ev.size(), 3u) << text;
    EXPECT_EQ(ev[ev.size() - 3], "device timer/0 v1 id 2 payload 2 size 26") << text;
    EXPECT_EQ(ev.back(), "vmdesc " + nlohmann::json::parse(text).dump()) << text;
    EXPECT_EQ(parse_chunked(s, 3), ev) << text;
  }
}

TEST(StreamDevices, AStreamWhosePayloadEndsInAFooterLookalikeIsNotTruncated) {
  // The last device's payload ends in "footer of this section + FULL" whose
  // header would run past the end of the input; the real footer follows,
  // then EOF. The lookalike is not the footer: the stream is whole.
  auto s = prefix();
  device_header(s, 0x04, 3, "globalstate");
  s.insert(s.end(), {1, 2, 0x7e, 0, 0, 0, 3, 0x04});
  footer(s, 3);
  s.push_back(0x00);
  auto ev = parse_whole(s);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[ev.size() - 2], "device globalstate/0 v1 id 3 payload 8 size 38");
  EXPECT_EQ(ev.back().rfind("eof", 0), 0u);
}

TEST(StreamDevices, ADeviceSectionWithoutAFooterStopsAtTheLimitNotAtTheMemory) {
  auto s = prefix();
  const uint64_t section = s.size();
  device_header(s, 0x04, 2, "timer");
  StreamReader r(ReaderOptions{.max_device_payload_bytes = 1 << 20});
  r.feed(s);
  while (r.next()) {
  }
  const std::vector<uint8_t> chunk(64 * 1024, 0x7e);  // footer bytes with the wrong id, forever
  std::size_t fed = 0;
  try {
    for (; fed < (4u << 20); fed += chunk.size()) {
      r.feed(chunk);
      while (r.next()) {
      }
    }
    ADD_FAILURE() << "fed 4 MiB of payload without an error";
  } catch (const StreamError& e) {
    EXPECT_EQ(e.offset(), section);
    EXPECT_NE(std::string(e.what()).find("device section 'timer' has no footer within 1 MiB"), std::string::npos)
        << e.what();
    EXPECT_LE(fed, (1u << 20) + chunk.size());
  }
}

TEST(StreamDevices, AVmdescOverTheLimitIsRefusedAndOneNotWantedIsNotParsed) {
  auto s = prefix();
  device_header(s, 0x04, 2, "timer");
  footer(s, 2);
  const uint64_t eof = s.size();
  vmdesc(s, "{\"page_size\": 4096, \"devices\": [{\"name\": \"timer\"}]}");
  {
    StreamReader r(ReaderOptions{.max_vmdesc_bytes = 16});
    r.feed(s);
    r.finish();
    try {
      while (r.next()) {
      }
      ADD_FAILURE() << "no error";
    } catch (const StreamError& e) {
      EXPECT_EQ(e.offset(), eof + 1);
      EXPECT_NE(std::string(e.what()).find("vmdesc of 51 bytes is over the limit"), std::string::npos) << e.what();
    }
  }
  StreamReader r(ReaderOptions{.parse_vmdesc = false});
  r.feed(s);
  r.finish();
  bool seen = false;
  while (auto ev = r.next()) {
    if (auto* v = std::get_if<VmdescEvent>(&*ev)) {
      seen = true;
      EXPECT_TRUE(v->json.is_null());
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_TRUE(r.done());
}

TEST(StreamDevices, VmdescEntriesThatNameNoDeviceAreSkipped) {
  auto v = nlohmann::json::parse(R"({"devices": [{"name": "timer", "instance_id": 1}, {"name": 5}, 7, {"instance_id": 2},
                                                 {"name": "rtc"}, {"name": "x", "instance_id": -1}, {"name": "y", "instance_id": "0"}]})");
  auto d = vmdesc_devices(v);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].name, "timer");
  EXPECT_EQ(d[0].instance_id, 1u);
  EXPECT_EQ(*d[0].entry, v["devices"][0]);
  EXPECT_EQ(d[1].name, "rtc");
  EXPECT_EQ(d[1].instance_id, 0u);
  for (const char* bad : {"[1]", "{\"devices\": 3}", "{\"devices\": {\"name\": \"a\"}}", "null"})
    EXPECT_TRUE(vmdesc_devices(nlohmann::json::parse(bad)).empty()) << bad;
}

TEST(StreamErrors, ChunkedFeedingReportsTheSameError) {
  auto s = with_part(prefix(), 1, ram_flag::kZero, "pc.ram");
  s.push_back(0);
  try {
    parse_chunked(s, 3);
    ADD_FAILURE() << "no error";
  } catch (const StreamError& e) {
    EXPECT_EQ(e.offset(), kPrefixEnd + 5 + 8);
  }
}

}  // namespace
}  // namespace dpdc::stream
