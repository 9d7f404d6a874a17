// The stream codec against real QEMU 7.2 (TCG, no KVM needed):
//  - QEMU writes a migration stream to a file, our reader parses all of it and
//    our page counts equal QEMU's own query-migrate "ram" statistics;
//  - our writer produces a RAM-only stream, QEMU loads it, and guest memory
//    read back with pmemsave equals what we wrote, byte for byte;
//  - broken streams: QEMU fails the incoming migration, our reader names the offset.
//
// How QEMU 7.2 counts (migration/ram.c): every ZERO record increments
// "duplicate" and every PAGE record increments "normal" ("normal-bytes" =
// normal x 4096), once per record sent, so a page sent in several iterations is
// counted each time. That is exactly what our InspectReport totals count, so
// both numbers must match exactly for a precopy stream without xbzrle,
// compression or multifd.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "facilities.h"
#include "qemu/qmp_client.h"
#include "qemu_process.h"
#include "stream/stream_format.h"
#include "stream/stream_inspect.h"
#include "stream/stream_reader.h"
#include "stream/stream_writer.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace dpdc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using stream::kPageSize;

constexpr uint64_t kRamSize = 64ull << 20;

using test::Qemu;
using test::qemu_binary;
using test::read_file;
using test::TempDir;
using test::write_file;

// Runs QEMU paused with `args`, migrates it to `file`, returns query-migrate's answer.
nlohmann::json save_stream(const TempDir& dir, const std::vector<std::string>& args, const std::string& file) {
  std::vector<std::string> a = args;
  a.push_back("-S");
  Qemu q(dir, a);
  q.qmp().execute("migrate", {{"uri", "exec:cat > " + file}});
  auto r = q.wait_migration();
  EXPECT_EQ(r.value("status", ""), "completed") << r.dump() << q.stderr_text();
  return r;
}

// The recognizable content of guest page `i` (never all zero).
std::vector<uint8_t> pattern_page(uint64_t i) {
  std::vector<uint8_t> p(kPageSize);
  for (size_t j = 0; j < p.size(); ++j) p[j] = static_cast<uint8_t>(0x5a ^ (i * 13 + j));
  p[0] = 0xd1;  // never all zero
  return p;
}

void expect_counts_match_qemu(const stream::InspectReport& rep, const nlohmann::json& mig) {
  const auto& ram = mig.at("ram");
  EXPECT_EQ(rep.total.pages, ram.at("normal").get<uint64_t>());
  EXPECT_EQ(rep.total.zero_pages, ram.at("duplicate").get<uint64_t>());
  EXPECT_EQ(rep.total.pages * kPageSize, ram.at("normal-bytes").get<uint64_t>());
  uint64_t used = 0;
  for (const auto& b : rep.blocks) used += b.used_length;
  EXPECT_EQ(used, ram.at("total").get<uint64_t>());
}

TEST(StreamQemu, QemuWritesMachineNoneWeRead) {
  DPDC_REQUIRE(qemu);
  TempDir dir;
  // Guest RAM from a shared file backend, so the test can put recognizable
  // bytes into it before QEMU starts (-M none has no CPU to run code).
  const std::string mem = dir / "guest.mem";
  const std::vector<uint64_t> marked{0, 1, 7, 1000, 16383};
  {
    std::vector<uint8_t> image(kRamSize, 0);
    for (uint64_t i : marked) {
      auto p = pattern_page(i);
      std::copy(p.begin(), p.end(), image.begin() + static_cast<std::ptrdiff_t>(i * kPageSize));
    }
    write_file(mem, image);
  }
  const std::string file = dir / "none.mig";
  auto mig = save_stream(dir,
                         {"-M", "none,memory-backend=mem", "-m", "64M", "-object",
                          "memory-backend-file,id=mem,size=64M,share=on,mem-path=" + mem},
                         file);
  auto bytes = read_file(file);
  stream::InspectReport rep;
  ASSERT_NO_THROW(rep = stream::inspect(bytes));
  EXPECT_EQ(rep.machine, "none");
  ASSERT_EQ(rep.blocks.size(), 1u);
  EXPECT_EQ(rep.blocks[0].idstr, "mem");  // the backend's id names the block
  EXPECT_EQ(rep.blocks[0].used_length, kRamSize);
  expect_counts_match_qemu(rep, mig);
  EXPECT_EQ(rep.total.pages, marked.size());
  // The last record for each page carries our pattern.
  std::map<uint64_t, std::vector<uint8_t>> last;
  stream::read_all(bytes, [&](const stream::Event& ev) {
    if (auto* p = std::get_if<stream::RamPageEvent>(&ev))
      last[p->offset / kPageSize] = p->zero ? std::vector<uint8_t>(kPageSize, p->fill)
                                            : std::vector<uint8_t>(p->data.begin(), p->data.end());
  });
  EXPECT_EQ(last.size(), kRamSize / kPageSize);
  for (uint64_t i : marked) EXPECT_EQ(last[i], pattern_page(i)) << "page " << i;
  EXPECT_EQ(last[2], std::vector<uint8_t>(kPageSize, 0));
}

TEST(StreamQemu, QemuWritesDefaultMachineNoneWeRead) {
  DPDC_REQUIRE(qemu);
  TempDir dir;
  const std::string file = dir / "none.mig";
  auto mig = save_stream(dir, {"-M", "none", "-m", "64M"}, file);
  auto rep = stream::inspect(read_file(file));
  ASSERT_EQ(rep.blocks.size(), 1u);
  EXPECT_EQ(rep.blocks[0].idstr, "ram");
  expect_counts_match_qemu(rep, mig);
  EXPECT_EQ(rep.total.zero_pages, kRamSize / kPageSize);  // untouched RAM: all ZERO records
  EXPECT_EQ(rep.iterations.front(), "START");
  EXPECT_EQ(rep.iterations.back(), "END");
  // QEMU 7.2 -M none: FULL sections "timer" and "globalstate", listed in the vmdesc too.
  EXPECT_EQ(rep.vmdesc_devices, (std::vector<std::string>{"timer/0", "globalstate/0"}));
}

TEST(StreamQemu, QemuWritesMachinePcWeRead) {
  DPDC_REQUIRE(qemu);
  TempDir dir;
  const std::string file = dir / "pc.mig";
  auto mig = save_stream(dir, {"-M", "pc", "-m", "64M"}, file);
  auto rep = stream::inspect(read_file(file));
  EXPECT_EQ(rep.machine.rfind("pc-i440fx-", 0), 0u) << rep.machine;
  ASSERT_FALSE(rep.blocks.empty());
  EXPECT_EQ(rep.blocks[0].idstr, "pc.ram");
  EXPECT_EQ(rep.blocks[0].used_length, kRamSize);
  bool bios = false;
  for (const auto& b : rep.blocks) bios |= b.idstr == "pc.bios";
  EXPECT_TRUE(bios);
  expect_counts_match_qemu(rep, mig);
  EXPECT_GT(rep.total.pages, 0u);  // firmware ROMs are not all zero
  size_t full = 0;
  for (const auto& s : rep.sections) full += s.type == "FULL";
  EXPECT_EQ(full, rep.vmdesc_devices.size());
  EXPECT_GT(full, 10u);
}

// Builds a RAM-only stream for the blocks QEMU itself announced for `-M none -m 64M`.
struct OurStream {
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> image;  // guest RAM after loading it
};

OurStream build_ram_stream(const std::string& machine, const std::vector<stream::RamBlockInfo>& blocks) {
  OurStream s;
  s.image.assign(blocks[0].used_length, 0);
  stream::VectorSink sink;
  stream::StreamWriter w(sink);
  w.header();
  w.configuration(machine);
  w.ram_setup(blocks);
  const uint64_t pages = blocks[0].used_length / kPageSize;
  auto put = [&](uint64_t i, const std::vector<uint8_t>& p) {
    w.ram_page(0, i * kPageSize, p);
    std::copy(p.begin(), p.end(), s.image.begin() + static_cast<std::ptrdiff_t>(i * kPageSize));
  };
  const std::vector<uint8_t> zero(kPageSize, 0);
  // Iteration 1: every page, a pattern on every 3rd page, zero pages elsewhere.
  w.ram_begin_iteration();
  for (uint64_t i = 0; i < pages; ++i) put(i, i % 3 == 0 ? pattern_page(i) : zero);
  w.ram_end_iteration();
  // Iteration 2: some pages "dirtied": new content, and data pages that became zero.
  w.ram_begin_iteration();
  for (uint64_t i = 0; i < pages; i += 97) put(i, pattern_page(i + 1000000));
  for (uint64_t i = 3; i < pages; i += 301) put(i, zero);
  w.ram_end_iteration();
  // Final iteration (VM stopped): a few last pages.
  w.ram_begin_final();
  put(pages - 1, pattern_page(42));
  put(5, pattern_page(5));
  w.ram_end_iteration();
  w.eof_and_vmdesc();
  s.bytes = std::move(sink.bytes);
  return s;
}

TEST(StreamQemu, WeWriteQemuLoadsMachineNone) {
  DPDC_REQUIRE(qemu);
  TempDir dir;
  const std::vector<std::string> args{"-M", "none", "-m", "64M"};
  // Learn the block list and machine name from a stream QEMU wrote for the same command line.
  const std::string ref = dir / "ref.mig";
  save_stream(dir, args, ref);
  std::string machine;
  std::vector<stream::RamBlockInfo> blocks;
  stream::read_all(read_file(ref), [&](const stream::Event& ev) {
    if (auto* c = std::get_if<stream::ConfigurationEvent>(&ev)) machine = c->machine;
    if (auto* r = std::get_if<stream::RamSetupEvent>(&ev)) blocks = r->blocks;
  });
  ASSERT_EQ(blocks.size(), 1u);

  auto ours = build_ram_stream(machine, blocks);
  const std::string file = dir / "ours.mig";
  write_file(file, ours.bytes);
  ASSERT_NO_THROW(stream::inspect(ours.bytes));  // our own reader accepts it

  auto a = args;
  a.insert(a.end(), {"-incoming", "exec:cat " + file});
  Qemu dst(dir, a);
  auto r = dst.wait_migration();
  ASSERT_EQ(r.value("status", ""), "completed") << r.dump() << dst.stderr_text();
  const std::string dump = dir / "dump.bin";
  dst.qmp().execute("pmemsave", {{"val", 0}, {"size", blocks[0].used_length}, {"filename", dump}});
  auto got = read_file(dump);
  ASSERT_EQ(got.size(), ours.image.size());
  size_t first_diff = 0;
  while (first_diff < got.size() && got[first_diff] == ours.image[first_diff]) ++first_diff;
  EXPECT_EQ(first_diff, got.size()) << "guest memory differs at byte " << first_diff;
}

// Runs an incoming QEMU on `file`. QEMU 7.2 exits with status 1 when an
// incoming migration fails (there is no exit-on-error=false in 7.2), so the
// failure is seen as its exit code and message, not as a query-migrate status.
test::RunResult qemu_load(const std::string& file) {
  return test::run({qemu_binary(), "-display", "none", "-nodefaults", "-accel", "tcg", "-M", "none", "-m", "64M",
                    "-incoming", "exec:cat " + file},
                   {}, 20s);
}

TEST(StreamQemu, BrokenStreamsAreRejected) {
  DPDC_REQUIRE(qemu);
  TempDir dir;
  const std::string ref = dir / "ref.mig";
  save_stream(dir, {"-M", "none", "-m", "64M"}, ref);
  auto good = read_file(ref);

  // Truncated in the middle of the RAM payload.
  auto cut = good;
  cut.resize(good.size() / 2);
  const std::string cut_file = dir / "cut.mig";
  write_file(cut_file, cut);
  try {
    stream::inspect(cut);
    ADD_FAILURE() << "truncated stream accepted";
  } catch (const stream::StreamError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated stream"), std::string::npos) << e.what();
    EXPECT_GT(e.offset(), cut.size() - 5000);
    EXPECT_LE(e.offset(), cut.size());
    EXPECT_NE(e.section().find("'ram'"), std::string::npos) << e.what();
  }
  // QEMU's own loader refuses it too (that is QEMU's behaviour, noted here).
  auto r = qemu_load(cut_file);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("load of migration failed"), std::string::npos) << r.err;

  auto bad = good;
  bad[0] = 'X';
  const std::string bad_file = dir / "magic.mig";
  write_file(bad_file, bad);
  try {
    stream::inspect(bad);
    ADD_FAILURE() << "wrong magic accepted";
  } catch (const stream::StreamError& e) {
    EXPECT_EQ(e.offset(), 0u);
    EXPECT_NE(std::string(e.what()).find("wrong magic"), std::string::npos) << e.what();
  }
  r = qemu_load(bad_file);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("load of migration failed"), std::string::npos) << r.err;
}

TEST(StreamQemu, InspectCommandReportsQemusOwnCounts) {
  DPDC_REQUIRE(qemu);
  TempDir dir;
  const std::string file = dir / "pc.mig";
  auto mig = save_stream(dir, {"-M", "pc", "-m", "64M"}, file);
  auto r = test::run({test::bin("dpdc-engine"), "inspect", file, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const auto& ram = mig.at("ram");
  EXPECT_EQ(j["total"]["pages"], ram.at("normal").get<uint64_t>());
  EXPECT_EQ(j["total"]["zero_pages"], ram.at("duplicate").get<uint64_t>());
  auto text = test::run({test::bin("dpdc-engine"), "inspect", file});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("pc.ram"), std::string::npos) << text.out;

  // A broken file: exit 1, one line naming the file and the byte offset.
  auto bytes = read_file(file);
  bytes.resize(bytes.size() / 3);
  const std::string cut = dir / "cut.mig";
  write_file(cut, bytes);
  auto bad = test::run({test::bin("dpdc-engine"), "inspect", cut});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find(cut), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("offset"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.find('\n'), bad.err.size() - 1) << bad.err;
}

}  // namespace
}  // namespace dpdc
