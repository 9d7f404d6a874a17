// Live migration between two dpdc-vm processes on this machine, for real
// (KVM, the tracker, the engine, the stream over a socket): the destination's
// memory equals the source's at the stop, byte for byte; the ab guest passes
// QEMU's consistency check; the guest runs on at the destination.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "ab_check.h"
#include "facilities.h"
#include "qemu/qmp_client.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "vm_process.h"

namespace dpdc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

using test::VmProcess;

void migrate(const std::string& workload, const std::string& policy, const std::string& transport,
             const std::string& mem = "64M", const std::string& max_bw = "") {
  test::TempDir dir;
  const std::vector<std::string> machine = {"-m", mem, "-smp", "1", "-accel", "kvm,dirty-ring-size=4096"};
  auto src_args = machine;
  src_args.insert(src_args.end(), {"--workload", workload});
  VmProcess src(dir, "src", src_args);
  const std::string uri = transport == "tcp" ? "tcp:127.0.0.1:" + std::to_string(47000 + ::getpid() % 1000)
                                             : "unix:" + (dir / "mig.sock");
  auto dst_args = machine;
  dst_args.insert(dst_args.end(), {"-incoming", uri, "-S"});
  VmProcess dst(dir, "dst", dst_args);
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
  std::uint64_t diff = 0;
  while (diff < src_ram.size() && src_ram[diff] == dst_ram[diff]) ++diff;
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

}  // namespace
}  // namespace dpdc
