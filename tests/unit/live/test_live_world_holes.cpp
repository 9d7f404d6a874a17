// LiveWorld reads a guest's RAM file without allocating its holes: a page in
// a hole is sent as a ZERO record, a page with data as its bytes, and the
// file's allocation is what it was. A memfd stands in for the VMM's RAM.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>
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

// A LiveWorld over `fd`'s mapping (told the file or not), and what its
// stream carried.
struct Harness {
  Harness(int fd, bool give_fd)
      : map(kPages * DPDC_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0, "mmap"), writer(sink) {
    writer.header();
    writer.configuration("test");
    writer.ram_setup({{"ram", kPages * DPDC_PAGE_SIZE, std::nullopt}});
    LiveWorldOptions options;
    if (give_fd) options.ram_fd = fd;
    world.emplace(source, std::span<const std::uint8_t>(map.as<const std::uint8_t>(), kPages * DPDC_PAGE_SIZE),
                  writer, guest, options);
  }
  // One round of `pages`; what it carried.
  Sent round(std::uint32_t n, const std::vector<std::uint64_t>& pages) {
    Bitmap unproven(kPages);
    world->begin_round(n, false);
    world->send_pages(pages, unproven);
    world->end_round(n, false);
    writer.flush();
    Sent out;
    reader.feed(std::span<const std::uint8_t>(sink.bytes).subspan(fed));
    fed = sink.bytes.size();
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

  Mapping map;
  QuietSource source;
  StillGuest guest;
  stream::VectorSink sink;
  stream::StreamWriter writer;
  stream::StreamReader reader;
  std::size_t fed = 0;  // sink bytes the reader has had
  std::optional<LiveWorld> world;
};

std::vector<std::uint64_t> every_page() {
  std::vector<std::uint64_t> pages(kPages);
  for (std::uint64_t p = 0; p < kPages; ++p) pages[p] = p;
  return pages;
}

Sent send_all(int fd, bool give_fd) { return Harness(fd, give_fd).round(1, every_page()); }

void write_page(int fd, std::uint64_t p) {
  std::vector<std::uint8_t> page(DPDC_PAGE_SIZE, static_cast<std::uint8_t>(p % 250 + 1));
  EXPECT_EQ(::pwrite(fd, page.data(), page.size(), static_cast<off_t>(p * DPDC_PAGE_SIZE)),
            static_cast<ssize_t>(page.size()));
}

UniqueFd sparse_ram(const std::vector<std::uint64_t>& written) {
  UniqueFd fd(::memfd_create("live-world-holes", MFD_CLOEXEC));
  EXPECT_TRUE(fd);
  EXPECT_EQ(::ftruncate(fd.get(), kPages * DPDC_PAGE_SIZE), 0);
  for (std::uint64_t p : written) write_page(fd.get(), p);
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

// A hole is asked again each time it is due: a page the guest wrote since
// the last round is sent with its bytes. A data page punched out since (a
// balloon, a discard) is read, and reads as zeros.
TEST(LiveWorldHoles, APageWrittenSinceTheLastRoundIsSentWithItsBytes) {
  UniqueFd fd = sparse_ram({0, 1, 2});
  Harness h(fd.get(), true);
  EXPECT_EQ(h.round(1, every_page()).data, (std::vector<std::uint64_t>{0, 1, 2}));
  write_page(fd.get(), 700);
  ASSERT_EQ(::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1 * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE), 0);
  const Sent second = h.round(2, {1, 2, 699, 700, 701});
  EXPECT_EQ(second.data, (std::vector<std::uint64_t>{2, 700}));
  EXPECT_EQ(second.zero, (std::vector<std::uint64_t>{1, 699, 701}));
  ASSERT_EQ(second.first_bytes.size(), 2u);
  EXPECT_EQ(second.first_bytes[1], 700 % 250 + 1);
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
