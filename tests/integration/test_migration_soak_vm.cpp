// A soak: one running ab guest live-migrated from dpdc-vm to a fresh
// dpdc-vm and on, DPDC_SOAK_MIGRATIONS times (default 4 in the matrix; the
// 50-migration run in docs/faults.md sets it), every migration checked byte
// for byte and with the ab rule, the guest running on at each destination.
// Each VMM's open descriptors once its guest runs must equal the first's
// (a leak would grow them), and the figures are printed for the record:
// descriptors and resident memory of each destination, the engine's peak.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "ab_check.h"
#include "facilities.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "vm_process.h"

namespace dpdc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::VmProcess;

const std::vector<std::string> kMachine = {"-m", "64M", "-smp", "1", "-accel", "kvm,dirty-ring-size=4096"};

std::size_t open_fds(pid_t pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
  return n;
}

TEST(MigrationSoak, OneAbGuestMigratedOnAndOnLosesNothingAndLeaksNothing) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  const char* env = std::getenv("DPDC_SOAK_MIGRATIONS");
  const int migrations = env ? std::atoi(env) : 4;
  ASSERT_GE(migrations, 1);
  test::TempDir dir;
  auto args = kMachine;
  args.insert(args.end(), {"--workload", "ab"});
  auto src = std::make_unique<VmProcess>(dir, "vm0", args);
  std::this_thread::sleep_for(1s);
  std::size_t first_fds = 0;
  std::cerr << "[ soak     ] migration | engine peak RSS KiB | destination fds | destination RSS KiB\n";
  for (int i = 1; i <= migrations; ++i) {
    const std::string name = "vm" + std::to_string(i);
    const std::string uri = "unix:" + (dir / (name + ".mig"));
    auto dst_args = kMachine;
    dst_args.insert(dst_args.end(), {"-incoming", uri, "-S"});
    auto dst = std::make_unique<VmProcess>(dir, name, dst_args);
    test::Child engine({test::bin("dpdc-engine"), "attach", "--pid", std::to_string(src->pid()), "--to", uri,
                        "--policy", "dpdc", "--max-bandwidth", "200", "--json"});
    const auto code = engine.wait(300s);
    ASSERT_EQ(code, 0) << "migration " << i << ": " << engine.err();
    ASSERT_EQ(src->status(), "postmigrate") << "migration " << i;
    for (int t = 0; t < 600 && dst->status() == "inmigrate"; ++t) std::this_thread::sleep_for(100ms);
    const auto a = src->ram(), b = dst->ram();  // -S: the destination waits, as loaded
    ASSERT_EQ(a.size(), b.size());
    std::size_t diff = 0;
    while (diff < a.size() && a[diff] == b[diff]) ++diff;
    ASSERT_EQ(diff, a.size()) << "migration " << i << ": memory differs at byte " << diff;
    const nlohmann::json area = dst->workload_area();
    ASSERT_TRUE(test::ab_consistent(b, area["first-page"], area["pages"])) << "migration " << i;
    dst->qmp().execute("cont");
    std::this_thread::sleep_for(1s);
    ASSERT_EQ(dst->status(), "running");
    const std::size_t fds = open_fds(dst->pid());
    if (i == 1) first_fds = fds;
    EXPECT_EQ(fds, first_fds) << "migration " << i << ": the destination holds more descriptors than the first";
    std::cerr << "[ soak     ] " << i << " | " << engine.max_rss_kib() << " | " << fds << " | "
              << test::status_kib(dst->pid(), "VmRSS") << "\n";
    EXPECT_FALSE(fs::exists("/sys/fs/bpf/dpdc/" + std::to_string(src->pid()))) << "migration " << i << " left pins";
    src = std::move(dst);  // the old source quits over QMP
  }
}

}  // namespace
}  // namespace dpdc
