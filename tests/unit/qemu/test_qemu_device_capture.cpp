#include <gtest/gtest.h>

#include <cstring>

#include "dpdc/error.h"
#include "qemu/qemu_device_capture.h"
#include "stream/stream_reader.h"

namespace dpdc {
namespace {

std::vector<std::uint8_t> globalstate_payload(const char* state) {
  std::vector<std::uint8_t> p(4 + 100, 0);
  const auto n = static_cast<std::uint32_t>(std::strlen(state) + 1);
  p[0] = static_cast<std::uint8_t>(n >> 24), p[1] = static_cast<std::uint8_t>(n >> 16);
  p[2] = static_cast<std::uint8_t>(n >> 8), p[3] = static_cast<std::uint8_t>(n);
  std::memcpy(p.data() + 4, state, n - 1);
  return p;
}

// A stream shaped like a stopped QEMU's with x-ignore-shared: the shared
// block "pc.ram" is listed but not sent; "pc.bios" is sent, one page twice.
std::vector<std::uint8_t> qemu_like_stream() {
  stream::VectorSink sink;
  stream::StreamWriter w(sink, 1 << 20, 2);
  w.header();
  w.configuration("pc-i440fx-7.2", {"x-ignore-shared"});
  w.ram_setup({{"pc.ram", 1 << 20, 0}, {"pc.bios", 8192, 0xfffe0000}}, true);
  std::vector<std::uint8_t> page(4096, 0xaa), newer(4096, 0xbb), zero(4096, 0);
  w.ram_begin_iteration();
  w.ram_page(1, 0, page);
  w.ram_page(1, 4096, zero);
  w.ram_end_iteration();
  w.ram_begin_final();
  w.ram_page(1, 0, newer);
  w.ram_end_iteration();
  w.device_full("timer", 0, 2, std::vector<std::uint8_t>(16, 1), {{"name", "timer"}, {"instance_id", 0}, {"fields", "t"}});
  w.device_full("globalstate", 0, 1, globalstate_payload("paused"));
  w.eof_and_vmdesc();
  return sink.bytes;
}

TEST(QemuDeviceCapture, KeepsTheLastCopyOfEachPageAndEveryDevice) {
  auto c = capture_qemu_stream(qemu_like_stream());
  EXPECT_EQ(c.machine, "pc-i440fx-7.2");
  EXPECT_EQ(c.capabilities, std::vector<std::string>{"x-ignore-shared"});
  ASSERT_EQ(c.blocks.size(), 2u);
  ASSERT_EQ(c.pages.size(), 2u);
  EXPECT_EQ(c.pages[0].block, "pc.bios");
  EXPECT_EQ(c.pages[0].data, std::vector<std::uint8_t>(4096, 0xbb)) << "the END copy replaces the PART copy";
  EXPECT_TRUE(c.pages[1].zero);
  ASSERT_EQ(c.sections.size(), 2u);
  EXPECT_EQ(c.sections[0].idstr, "timer");
  EXPECT_EQ(nlohmann::json::parse(c.sections[0].vmdesc_json).value("fields", ""), "t");
  EXPECT_EQ(c.sections[1].payload, globalstate_payload("running"));
}

// The engine's side of a splice: qemu_like_stream() captured, and a stream
// of its own begun for the same machine (header, configuration).
struct Splice {
  QemuDeviceCapture capture = capture_qemu_stream(qemu_like_stream());
  stream::VectorSink sink;
  stream::StreamWriter writer{sink};
  Splice() {
    writer.header();
    writer.configuration(capture.machine);
  }
};

TEST(QemuDeviceCapture, SplicedStreamHasNoCapabilityAndLoadsAllPages) {
  Splice s;
  auto& [c, sink, w] = s;
  std::vector<stream::RamBlockInfo> blocks;
  for (auto b : c.blocks) blocks.push_back({b.idstr, b.used_length, std::nullopt});
  w.ram_setup(blocks);
  w.ram_begin_final();
  write_captured_pages(c, w);
  w.ram_end_iteration();
  write_captured_sections(c, w);
  w.eof_and_vmdesc();

  std::vector<std::string> caps{"?"};
  std::uint64_t pages = 0, zero = 0;
  std::vector<std::string> devices;
  stream::read_all(sink.bytes, [&](const stream::Event& ev) {
    if (auto* cfg = std::get_if<stream::ConfigurationEvent>(&ev)) caps = cfg->capabilities;
    if (auto* p = std::get_if<stream::RamPageEvent>(&ev)) (p->zero ? zero : pages)++;
    if (auto* d = std::get_if<stream::DeviceSectionEvent>(&ev)) devices.push_back(d->idstr);
  });
  EXPECT_TRUE(caps.empty());
  EXPECT_EQ(pages, 1u);
  EXPECT_EQ(zero, 1u);
  EXPECT_EQ(devices, (std::vector<std::string>{"timer", "globalstate"}));
}

TEST(QemuDeviceCapture, RefusesWhatItCannotSplice) {
  EXPECT_THROW(globalstate_running(std::vector<std::uint8_t>(20, 0)), Error);
  auto bad = globalstate_payload("paused");
  bad[3] = 0;  // size 0
  EXPECT_THROW(globalstate_running(bad), Error);
  auto truncated = qemu_like_stream();
  truncated.resize(truncated.size() / 2);
  EXPECT_THROW(capture_qemu_stream(truncated), Error);
}

TEST(QemuDeviceCapture, PagesOfAnUnlistedBlockAreAnError) {
  Splice s;
  s.writer.ram_setup({{"pc.ram", 1 << 20, std::nullopt}});
  s.writer.ram_begin_final();
  EXPECT_THROW(write_captured_pages(s.capture, s.writer), Error);
}

}  // namespace
}  // namespace dpdc
