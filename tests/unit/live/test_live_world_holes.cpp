// LiveWorld reads a guest's RAM file without allocating its holes: a page in
// a hole is sent as a ZERO record, a page with data as its bytes, and the
// file's allocation is what it was. A memfd stands in for the VMM's RAM.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "dpdc/mapping.h"
#include "dpdc/unique_fd.h"
#include "live/live_world.h"
#include "stream/stream_reader.h"

namespace dpdc {
namespace {

constexpr std::uint64_t kPages = 1024;

class QuietSource final : public DirtySource {
 public:
  void collect(Bitmap&, Scan) override {}
  std::span<const dpdc_page> history() override { return history_; }
  bool sent(std::uint64_t, std::span<const std::uint8_t>) override { return true; }

 private:
  std::vector<dpdc_page> history_ = std::vector<dpdc_page>(kPages);
};

class StillGuest final : public GuestControl {
 public:
  void stop() override {}
  bool stopped() const override { return false; }
};

std::uint64_t allocated_pages(int fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return static_cast<std::uint64_t>(st.st_blocks) * 512 / DPDC_PAGE_SIZE;
}

struct Sent {
  std::vector<std::uint64_t> zero, data;
  std::vector<std::uint8_t> first_bytes;  // first byte of each data page
};

// One round of every page through a LiveWorld over `fd`'s mapping (with or
// without telling it the file); what the stream carried.
Sent send_all(int fd, bool give_fd) {
  Mapping map(kPages * DPDC_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0, "mmap");
  QuietSource source;
  StillGuest guest;
  stream::VectorSink sink;
  stream::StreamWriter writer(sink);
  writer.header();
  writer.configuration("test");
  writer.ram_setup({{"ram", kPages * DPDC_PAGE_SIZE, std::nullopt}});
  LiveWorldOptions options;
  if (give_fd) options.ram_fd = fd;
  LiveWorld world(source, {map.as<const std::uint8_t>(), kPages * DPDC_PAGE_SIZE}, writer, guest, options);
  std::vector<std::uint64_t> pages(kPages);
  for (std::uint64_t p = 0; p < kPages; ++p) pages[p] = p;
  Bitmap unproven(kPages);
  world.begin_round(1, false);
  world.send_pages(pages, unproven);
  world.end_round(1, false);
  writer.flush();

  Sent out;
  stream::StreamReader reader;
  reader.feed(sink.bytes);
  while (auto ev = reader.next()) {
    if (const auto* p = std::get_if<stream::RamPageEvent>(&*ev)) {
      const std::uint64_t page = p->offset / DPDC_PAGE_SIZE;
      if (p->zero) {
        out.zero.push_back(page);
      } else {
        out.data.push_back(page);
        out.first_bytes.push_back(p->data[0]);
      }
    }
  }
  return out;
}

UniqueFd sparse_ram(const std::vector<std::uint64_t>& written) {
  UniqueFd fd(::memfd_create("live-world-holes", MFD_CLOEXEC));
  EXPECT_TRUE(fd);
  EXPECT_EQ(::ftruncate(fd.get(), kPages * DPDC_PAGE_SIZE), 0);
  for (std::uint64_t p : written) {
    std::vector<std::uint8_t> page(DPDC_PAGE_SIZE, static_cast<std::uint8_t>(p % 250 + 1));
    EXPECT_EQ(::pwrite(fd.get(), page.data(), page.size(), static_cast<off_t>(p * DPDC_PAGE_SIZE)),
              static_cast<ssize_t>(page.size()));
  }
  return fd;
}

TEST(LiveWorldHoles, HolesAreSentAsZerosWithoutBeingAllocated) {
  const std::vector<std::uint64_t> written = {0, 1, 2, 3, 500, 1023};
  UniqueFd fd = sparse_ram(written);
  ASSERT_EQ(allocated_pages(fd.get()), written.size());

  const Sent sent = send_all(fd.get(), true);
  EXPECT_EQ(sent.data, written);
  ASSERT_EQ(sent.first_bytes.size(), written.size());
  for (std::size_t i = 0; i < written.size(); ++i) EXPECT_EQ(sent.first_bytes[i], written[i] % 250 + 1);
  EXPECT_EQ(sent.zero.size(), kPages - written.size());
  EXPECT_EQ(allocated_pages(fd.get()), written.size()) << "sending the guest allocated its holes";
}

// Without the file the mapping is all LiveWorld has: the same stream, but
// reading the holes allocates them (what the file is for).
TEST(LiveWorldHoles, WithoutTheFileTheHolesAreReadAndAllocated) {
  const std::vector<std::uint64_t> written = {7, 8, 900};
  UniqueFd fd = sparse_ram(written);
  const Sent sent = send_all(fd.get(), false);
  EXPECT_EQ(sent.data, written);
  EXPECT_EQ(sent.zero.size(), kPages - written.size());
  EXPECT_GT(allocated_pages(fd.get()), written.size());
}

}  // namespace
}  // namespace dpdc
