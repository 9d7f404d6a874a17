// Live migration between two dpdc-vm processes on this machine, for real
// (KVM, the tracker, the engine, the stream over a socket): the destination's
// memory equals the source's at the stop, byte for byte; the ab guest passes
// QEMU's consistency check; the guest runs on at the destination.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <thread>

#include <nlohmann/json.hpp>

#include "ab_check.h"
#include "facilities.h"
#include "qemu/qmp_client.h"
#include "relay.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "dpdc/unique_fd.h"
#include "vm_process.h"

namespace dpdc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

using test::VmProcess;

// dpdc-vm's command line in these tests: `mem` of RAM, one vCPU with a
// dirty ring, then `extra`.
std::vector<std::string> vm_args(const std::string& mem, std::initializer_list<std::string> extra) {
  std::vector<std::string> a = {"-m", mem, "-smp", "1", "-accel", "kvm,dirty-ring-size=4096"};
  a.insert(a.end(), extra);
  return a;
}

// The first byte at which `a` and `b` differ (their size if none).
std::size_t first_mismatch(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  return static_cast<std::size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

void migrate(const std::string& workload, const std::string& policy, const std::string& transport,
             const std::string& mem = "64M", const std::string& max_bw = "") {
  test::TempDir dir;
  VmProcess src(dir, "src", vm_args(mem, {"--workload", workload}));
  const std::string uri = transport == "tcp" ? "tcp:127.0.0.1:" + std::to_string(47000 + ::getpid() % 1000)
                                             : "unix:" + (dir / "mig.sock");
  VmProcess dst(dir, "dst", vm_args(mem, {"-incoming", uri, "-S"}));
  std::this_thread::sleep_for(1s);  // the guest writes for a while first

  std::vector<std::string> cmd = {test::bin("dpdc-engine"), "attach", "--pid", std::to_string(src.pid()), "--to", uri,
                                  "--policy", policy, "--json"};
  if (!max_bw.empty()) cmd.insert(cmd.end(), {"--max-bandwidth", max_bw});
  auto r = test::run(cmd, {}, 600s);
  ASSERT_EQ(r.code, 0) << r.err;
  json report = json::parse(r.out);
  EXPECT_NE(src.status(), "running") << "the source must stay paused after the migration";

  for (int i = 0; i < 600 && dst.status() == "inmigrate"; ++i) std::this_thread::sleep_for(100ms);
  auto src_ram = src.ram(), dst_ram = dst.ram();
  ASSERT_EQ(src_ram.size(), dst_ram.size());
  const std::size_t diff = first_mismatch(src_ram, dst_ram);
  EXPECT_EQ(diff, src_ram.size()) << policy << "/" << workload << ": memory differs at byte " << diff;
  json area = dst.workload_area();
  if (workload.rfind("ab", 0) == 0) test::expect_ab_consistent(dst_ram, area["first-page"], area["pages"]);

  dst.qmp().execute("cont");
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(dst.status(), "running");
  auto later = dst.ram();
  EXPECT_NE(later, dst_ram) << "the guest does not run on the destination";
  if (!max_bw.empty()) {
    EXPECT_GE(report["totals"]["rounds"].get<int>(), 3) << r.out;
  }
}

class LiveMigration : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(LiveMigration, UnixSocket) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  auto [workload, policy] = GetParam();
  migrate(workload, policy, "unix");
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, LiveMigration,
                         ::testing::Combine(::testing::Values("ab", "hotcold", "seq"),
                                            ::testing::Values("xen", "qemu", "dpdc")),
                         [](const auto& p) { return std::get<0>(p.param) + "_" + std::get<1>(p.param); });

// The transport is what differs from the Unix socket runs above, which
// cover every policy; one policy keeps the kernel matrix inside CI's time.
TEST(LiveMigrationTcp, AbOverLoopbackTcp) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  migrate("ab", "dpdc", "tcp");
}

TEST(LiveMigrationLarge, OneGibGuestUnderABandwidthCapTakesSeveralRounds) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  migrate("hotcold", "dpdc", "unix", "1G", "200");
}

// A destination that reads slowly, then not at all, while round 1 has a
// whole 256 MiB guest to send: the engine's sends wait for it instead of
// piling the guest up in memory (its private memory stays within the
// issue's bound, 64 MiB + 40 B per page, where buffering round 1 would take
// 256 MiB), and once the destination reads on, the guest arrives whole.
TEST(LiveMigrationSlowDestination, TheEngineWaitsWithinItsMemoryBoundAndTheGuestArrivesWhole) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  test::TempDir dir;
  VmProcess src(dir, "src", vm_args("256M", {"--workload", "seq,rounds=1"}));
  ASSERT_TRUE(src.wait_finished(600s)) << "the guest did not write its RAM once";
  VmProcess dst(dir, "dst", vm_args("256M", {"-incoming", "unix:" + (dir / "dst.sock"), "-S"}));
  test::Relay relay(dir / "relay.sock", dir / "dst.sock");
  relay.pace(16 << 10);  // 1.6 MB/s at most

  test::Child engine({test::bin("dpdc-engine"), "attach", "--pid", std::to_string(src.pid()), "--to", relay.uri(),
                      "--json", "--progress", "none", "--stall-timeout", "60"});
  constexpr std::uint64_t kPages = (256u << 20) / 4096;
  constexpr std::uint64_t kBound = (std::uint64_t{64} << 20) + 40 * kPages;
  std::uint64_t peak = 0;
  const auto sample_for = [&](std::chrono::milliseconds span) {
    for (auto end = std::chrono::steady_clock::now() + span; std::chrono::steady_clock::now() < end;) {
      peak = std::max(peak, test::status_kib(engine.pid(), "RssAnon") * 1024);
      std::this_thread::sleep_for(50ms);
    }
  };
  sample_for(3s);
  relay.stall();
  sample_for(3s);
  ASSERT_FALSE(engine.wait(0ms).has_value()) << "the engine finished through a slow link: " << engine.err();
  EXPECT_LT(relay.forwarded(), std::uint64_t{64} << 20) << "the relay did not hold the destination back";
  EXPECT_GT(peak, 0u) << "the engine's memory was never sampled";
  EXPECT_LE(peak, kBound) << "the engine buffered the stream while its destination read slowly";
  std::cerr << "[ engine   ] peak private memory while held back: " << (peak >> 10) << " KiB\n";

  relay.pace(0);
  relay.resume();
  const auto code = engine.wait(600s);
  ASSERT_TRUE(code.has_value()) << "the engine did not finish once the destination read on";
  ASSERT_EQ(*code, 0) << engine.err();
  for (int i = 0; i < 600 && dst.status() == "inmigrate"; ++i) std::this_thread::sleep_for(100ms);
  const auto a = src.ram(), b = dst.ram();
  ASSERT_EQ(a.size(), b.size());
  const std::size_t diff = first_mismatch(a, b);
  EXPECT_EQ(diff, a.size()) << "the destination's RAM differs at byte " << diff;
  dst.qmp().execute("cont");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(dst.status(), "running");
}

std::uint64_t allocated_bytes(int fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

std::uint64_t next_data(int fd, std::uint64_t from, std::uint64_t size) {
  const off_t d = ::lseek(fd, static_cast<off_t>(from), SEEK_DATA);
  return d < 0 ? size : static_cast<std::uint64_t>(d);
}

// The first byte at which two RAM files differ (`size` if none): compares
// what either holds data at, with pread (holes read as zeros, unallocated).
std::uint64_t first_difference(int a, int b, std::uint64_t size) {
  constexpr std::uint64_t kChunk = 1 << 20;
  std::vector<std::uint8_t> x(kChunk), y(kChunk);
  for (std::uint64_t off = 0; off < size;) {
    off = std::min(next_data(a, off, size), next_data(b, off, size)) / 4096 * 4096;
    if (off >= size) break;
    const std::size_t n = static_cast<std::size_t>(std::min(kChunk, size - off));
    if (::pread(a, x.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n) ||
        ::pread(b, y.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
      ADD_FAILURE() << "pread of the guest RAM at " << off << " failed";
      return off;
    }
    for (std::size_t i = 0; i < n; ++i)
      if (x[i] != y[i]) return off + i;
    off += n;
  }
  return size;
}

// A guest past 4 GiB: page indices past 2^20, memfd offsets past 2^32 (and
// GPAs past the 3-4 GiB hole, in the second memslot). The guest writes low
// pages all along; pages written into its memfd from here before the attach
// sit at the top. The destination holds the source's bytes at the stop, and
// neither side's holes were filled: the migration allocates no more than the
// guest's data, at the source (reading) or the destination (loading).
TEST(LiveMigrationLarge, FiveGibGuestArrivesWholeAndItsHolesStayHoles) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  test::TempDir dir;
  VmProcess src(dir, "src", vm_args("5G", {"--workload", "seq,pages=2048"}));
  const std::string uri = "unix:" + (dir / "mig.sock");
  VmProcess dst(dir, "dst", vm_args("5G", {"-incoming", uri, "-S"}));

  constexpr std::uint64_t kRam = std::uint64_t{5} << 30;
  UniqueFd src_ram = src.ram_file();
  const std::vector<std::uint64_t> high = {(std::uint64_t{3} << 30) + 4096 * 7, (std::uint64_t{4} << 30) + 4096 * 3,
                                           kRam - 4096 * 16};
  {
    const std::string path = "/proc/" + std::to_string(src.pid()) + "/fd/" +
                             std::to_string(src.qmp().execute("x-dpdc-query-memory")["memfd"].get<int>());
    UniqueFd w(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(w) << path;
    for (std::uint64_t off : high) {
      std::vector<std::uint8_t> bytes(4096 * 16);
      for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>((off >> 12) + i * 7 + 1);
      ASSERT_EQ(::pwrite(w.get(), bytes.data(), bytes.size(), static_cast<off_t>(off)),
                static_cast<ssize_t>(bytes.size()));
    }
  }
  std::this_thread::sleep_for(1s);  // the guest writes for a while first
  const std::uint64_t src_before = allocated_bytes(src_ram.get());
  ASSERT_LT(src_before, std::uint64_t{64} << 20) << "the guest should hold little data before the attach";

  auto r = test::run({test::bin("dpdc-engine"), "attach", "--pid", std::to_string(src.pid()), "--to", uri, "--json"},
                     {}, 600s);
  ASSERT_EQ(r.code, 0) << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(report["totals"]["guest_pages"].get<std::uint64_t>(), kRam / 4096) << "page indices past 2^20";
  for (int i = 0; i < 600 && dst.status() == "inmigrate"; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_NE(dst.status(), "inmigrate") << "the destination did not finish loading";

  UniqueFd dst_ram = dst.ram_file();
  EXPECT_EQ(first_difference(src_ram.get(), dst_ram.get(), kRam), kRam) << "the destination's RAM differs";
  std::vector<std::uint8_t> top(4096);
  ASSERT_EQ(::pread(dst_ram.get(), top.data(), top.size(), static_cast<off_t>(kRam - 4096)), 4096);
  EXPECT_EQ(top[0], static_cast<std::uint8_t>(((kRam - 4096 * 16) >> 12) + 4096 * 15 * 7 + 1))
      << "the last page (offset past 2^32) arrived";
  // The guest dirtied only its 2048 workload pages meanwhile: the source
  // grew by no more than those, and the destination holds no more than the
  // source (a migration that read or loaded the holes would hold 5 GiB).
  const std::uint64_t src_after = allocated_bytes(src_ram.get());
  EXPECT_LE(src_after, src_before + 2048 * 4096 + (std::uint64_t{1} << 20)) << "the engine allocated source holes";
  EXPECT_LE(allocated_bytes(dst_ram.get()), src_after + (std::uint64_t{1} << 20))
      << "the destination allocated holes";

  dst.qmp().execute("cont");
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(dst.status(), "running");
}

}  // namespace
}  // namespace dpdc
