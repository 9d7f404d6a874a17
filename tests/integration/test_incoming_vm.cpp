// dpdc-vm -incoming refuses every broken stream with what is wrong and where,
// exits non-zero, and never runs a guest from it.
#include <gtest/gtest.h>

#include <vector>

#include "facilities.h"
#include "qemu_process.h"
#include "stream/stream_writer.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace dpdc {
namespace {

constexpr std::uint64_t kRam = 16ull << 20;

std::vector<std::uint8_t> ram_stream(const std::string& block, std::uint64_t page_offset) {
  stream::VectorSink sink;
  stream::StreamWriter w(sink);
  w.header();
  w.configuration("dpdc-vm");
  w.ram_setup({{block, kRam, std::nullopt}});
  w.ram_begin_iteration();
  std::vector<std::uint8_t> page(4096, 0x42);
  if (page_offset < kRam) w.ram_page(0, page_offset, page);
  w.ram_end_iteration();
  w.ram_begin_final();
  w.ram_end_iteration();
  w.eof_and_vmdesc();
  return sink.bytes;
}

void expect_refused(const std::vector<std::uint8_t>& bytes, const std::string& needle) {
  test::TempDir dir;
  const std::string file = dir / "bad.mig";
  test::write_file(file, bytes);
  auto r = test::run({test::bin("dpdc-vm"), "-m", "16M", "-accel", "kvm,dirty-ring-size=4096", "-incoming",
                      "file:" + file},
                     {}, std::chrono::seconds(60));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("offset"), std::string::npos) << "the error must say where: " << r.err;
  EXPECT_EQ(r.err.find("migration complete"), std::string::npos) << r.err;
}

TEST(IncomingVm, BrokenStreamsAreRefusedWithTheirPlace) {
  DPDC_REQUIRE(kvm);
  auto good = ram_stream("dpdc.ram", 0);

  auto truncated = good;
  truncated.resize(good.size() / 2);
  expect_refused(truncated, "truncated");

  auto magic = good;
  magic[0] = 'X';
  expect_refused(magic, "magic");

  auto version = good;
  version[7] = 9;
  expect_refused(version, "version");

  auto unknown_section = good;
  unknown_section[8] = 0x42;  // where the configuration section's type byte is
  expect_refused(unknown_section, "section");

  expect_refused(ram_stream("no.such.block", 0), "no.such.block");
}

TEST(IncomingVm, APageOutsideItsBlockIsRefused) {
  DPDC_REQUIRE(kvm);
  // Our writer refuses to write such a page, so patch the offset on the wire:
  // the first PAGE record's be64 header sits right after the iteration's
  // section header; find it by its flags.
  auto bytes = ram_stream("dpdc.ram", 4096);
  for (std::size_t i = 0; i + 8 <= bytes.size(); ++i) {
    // be64 (4096 | PAGE 0x08) with no CONTINUE: 00 00 00 00 00 00 10 08
    if (bytes[i + 6] == 0x10 && bytes[i + 7] == 0x08 && bytes[i] == 0 && bytes[i + 5] == 0) {
      bytes[i + 4] = 0x10;  // offset becomes 0x10001000, far beyond 16 MiB
      break;
    }
  }
  expect_refused(bytes, "outside");
}

}  // namespace
}  // namespace dpdc
