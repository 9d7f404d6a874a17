// A live migration end to end with the guest's CPU emulated: a thread writes
// guest RAM and reports each write through the tracker's real programs in the
// kernel (BPF_PROG_TEST_RUN, as KVM's push would), the engine migrates it with
// each policy to a real QEMU listening with -incoming, and QEMU's memory must
// equal the guest's memory at the stop, byte for byte. Everything but KVM is
// the real thing: tracker, dirty log, round driver, policies, stream writer,
// io_uring transport, QEMU's loader.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "bpf_progs.h"
#include "facilities.h"
#include "live/migration.h"
#include "loader/dirty_track_loader.h"
#include "qemu_process.h"
#include "track/ring_dirty_source.h"

namespace dpdc {
namespace {

using namespace std::chrono_literals;
constexpr std::uint64_t kRam = 64ull << 20;
constexpr std::uint64_t kPages = kRam / DPDC_PAGE_SIZE;

// Writes pages (99% to a hot set of 512) and pushes each write after it
// lands, until stopped.
class EmulatedGuest final : public GuestControl {
 public:
  EmulatedGuest(DirtyTracker& tracker, std::uint8_t* ram) : tracker_(tracker), ram_(ram) {}
  ~EmulatedGuest() override { stop(); }
  void start() {
    thread_ = std::thread([this] {
      std::uint64_t x = 88172645463325252ull, n = 0;
      while (!stop_.load()) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::uint64_t page = (x % 100 < 99) ? x % 512 : 512 + (x >> 8) % (kPages - 512);
        ++n;
        std::memcpy(ram_ + page * DPDC_PAGE_SIZE + (n % 512) * 8, &n, sizeof n);
        std::uint64_t args[3] = {0, 0, page};
        if (test::run_raw_tp(tracker_.program_fd(TrackerProgram::Push), args, 3) != 0) failures_++;
        writes_++;
      }
    });
  }
  void stop() override {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  bool stopped() const override { return stop_.load(); }
  std::uint64_t writes() const { return writes_.load(); }
  int failures() const { return failures_.load(); }

 private:
  DirtyTracker& tracker_;
  std::uint8_t* ram_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<int> failures_{0};
};

void migrate_and_compare(const std::string& policy_name) {
  test::TempDir dir;
  const std::string incoming = dir / "incoming.sock";
  test::Qemu dst(dir, {"-M", "none", "-m", "64M", "-incoming", "unix:" + incoming});
  for (int i = 0; i < 200 && !std::filesystem::exists(incoming); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(std::filesystem::exists(incoming)) << dst.stderr_text();

  void* mem = ::mmap(nullptr, kRam, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* ram = static_cast<std::uint8_t*>(mem);
  for (std::uint64_t p = 0; p < kPages; ++p) {
    if (p % 7 == 3) continue;  // some zero pages
    std::memset(ram + p * DPDC_PAGE_SIZE, static_cast<int>(p % 251) + 1, DPDC_PAGE_SIZE);
  }

  TrackerOptions to;
  to.vmm_pid = ::getpid();
  to.pages = kPages;
  to.pin = false;
  to.attach = false;
  DirtyTracker tracker(to);
  tracker.set_slot(0, 0, kPages);
  // Two reaps before the migration, so pages not pushed since attach count as re-protected.
  std::uint64_t ring_arg[1] = {0};
  for (int i = 0; i < 2; ++i) ASSERT_EQ(test::run_raw_tp(tracker.program_fd(TrackerProgram::Reset), ring_arg, 1), 0);

  EmulatedGuest guest(tracker, ram);
  guest.start();
  std::this_thread::sleep_for(300ms);  // some history before the first round

  MigrationSetup setup;
  setup.machine = "none";
  setup.blocks = {{"ram", kRam, std::nullopt}};
  setup.ram = {ram, kRam};
  TransportOptions topt;
  topt.max_bytes_per_s = 100e6;  // round 1 takes ~0.7 s: several rounds with the guest writing
  Transport transport(Destination::parse("unix:" + incoming), topt);
  PolicyOptions po;
  po.expected_bandwidth_bytes_per_s = topt.max_bytes_per_s;
  auto policy = make_policy(policy_name, po);
  RingDirtySource source(tracker, 1);
  MigrationResult result = run_migration(source, guest, setup, transport, *policy);

  std::cerr << policy_name << ": " << result.report.totals.rounds << " rounds, " << result.report.totals.sent
            << " pages sent, guest wrote " << guest.writes() << " times; stopped because " << result.report.stop_reason
            << "\n";
  EXPECT_EQ(guest.failures(), 0);
  EXPECT_GT(guest.writes(), 1000u) << "the guest hardly ran during the migration";
  EXPECT_GE(result.report.totals.rounds, 2u);
  EXPECT_GE(result.report.totals.sent, kPages);
  auto status = dst.wait_migration(30s);
  ASSERT_EQ(status.value("status", ""), "completed") << status.dump() << dst.stderr_text();

  const std::string dump = dir / "dump.bin";
  dst.qmp().execute("pmemsave", {{"val", 0}, {"size", kRam}, {"filename", dump}});
  auto got = test::read_file(dump);
  ASSERT_EQ(got.size(), kRam);
  std::uint64_t first_diff = 0;
  while (first_diff < kRam && got[first_diff] == ram[first_diff]) ++first_diff;
  EXPECT_EQ(first_diff, kRam) << policy_name << ": guest memory differs at byte " << first_diff << " (page "
                              << first_diff / DPDC_PAGE_SIZE << ")";
  ::munmap(mem, kRam);
}

TEST(MigrationQemu, XenPolicyLandsEveryByte) {
  DPDC_REQUIRE(bpf);
  DPDC_REQUIRE(qemu);
  migrate_and_compare("xen");
}

TEST(MigrationQemu, QemuPolicyLandsEveryByte) {
  DPDC_REQUIRE(bpf);
  DPDC_REQUIRE(qemu);
  migrate_and_compare("qemu");
}

TEST(MigrationQemu, DpdcPolicyLandsEveryByte) {
  DPDC_REQUIRE(bpf);
  DPDC_REQUIRE(qemu);
  migrate_and_compare("dpdc");
}

}  // namespace
}  // namespace dpdc
