#include "qemu_guest.h"

#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "subprocess.h"

namespace dpdc::test::qemu_guest {

using namespace std::chrono_literals;

bool kvm_accel() {
  const char* accel = std::getenv("DPDC_TEST_QEMU_ACCEL");
  return accel != nullptr && (std::string(accel) == "kvm" || std::string(accel) == "kvm-bitmap");
}

bool kvm_bitmap() {
  const char* accel = std::getenv("DPDC_TEST_QEMU_ACCEL");
  return accel != nullptr && std::string(accel) == "kvm-bitmap";
}

std::string auto_dirty_source() {
  if (!kvm_accel()) return "page-content";
  return kvm_bitmap() ? "kvm-dirty-bitmap" : "kvm-dirty-ring";
}

std::string guest_image() { return std::string(DPDC_BIN_DIR) + "/dpdc-guest.img"; }
std::string engine() { return std::string(DPDC_BIN_DIR) + "/dpdc-engine"; }

std::vector<std::string> machine_args(const std::string& workload) {
  return {"-M", "pc", "-m", kRam, "-kernel", guest_image(), "-append", workload};
}

std::vector<std::string> source_args(const TempDir& dir, const std::string& workload) {
  static int n = 0;
  return {"-qmp",   "unix:" + (dir / ("engine" + std::to_string(++n) + ".sock")) + ",server=on,wait=off",
          "-object", "memory-backend-memfd,id=pc.ram,size=" + kRam + ",share=on",
          "-M",      "pc,memory-backend=pc.ram",
          "-m",      kRam,
          "-kernel", guest_image(),
          "-append", workload};
}

std::vector<std::uint8_t> pmem(Qemu& q, const TempDir& dir, std::uint64_t gpa, std::uint64_t size) {
  static int n = 0;
  const std::string file = dir / ("pmem" + std::to_string(++n));
  q.qmp().execute("pmemsave", {{"val", gpa}, {"size", size}, {"filename", file}});
  auto bytes = read_file(file);
  std::filesystem::remove(file);
  return bytes;
}

dpdc_guest_status guest_status(Qemu& q, const TempDir& dir) {
  auto bytes = pmem(q, dir, DPDC_GUEST_STATUS_GPA, sizeof(dpdc_guest_status));
  dpdc_guest_status st{};
  if (bytes.size() == sizeof st) std::memcpy(&st, bytes.data(), sizeof st);
  return st;
}

bool wait_rounds(Qemu& q, const TempDir& dir, std::uint64_t after, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto st = guest_status(q, dir);
    if (st.magic == DPDC_GUEST_STATUS_MAGIC && st.state == DPDC_GUEST_RUNNING && st.rounds > after) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

std::uint64_t memfd_allocated(pid_t pid) {
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string().rfind("/memfd:", 0) != 0) continue;
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0) return static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return 0;
}

void expect_nothing_left(Qemu& q) {
  if (kvm_bitmap()) {
    // The engine's last calc-dirty-rate run has ended, and with it logging.
    EXPECT_NE(q.qmp().execute("query-dirty-rate").value("status", ""), "measuring") << "dirty logging must be off again";
  } else if (kvm_accel()) {
    EXPECT_TRUE(q.qmp().execute("query-vcpu-dirty-limit").empty()) << "dirty logging must be off again";
  }
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/bpf/dpdc/" + std::to_string(q.pid()))) << "maps left pinned";
}

std::string status_of(Qemu& q) { return q.qmp().execute("query-status").value("status", ""); }

bool wait_status(Qemu& q, const std::string& want, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (status_of(q) == want) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

bool ignore_shared_on(Qemu& q) {
  for (const auto& c : q.qmp().execute("query-migrate-capabilities")) {
    if (c.value("capability", "") == "x-ignore-shared") return c.value("state", false);
  }
  return false;
}

std::size_t device_dirs_left() {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/tmp")) {
    if (e.path().filename().string().rfind("dpdc-devices-", 0) == 0) ++n;
  }
  return n;
}

void migrate_to_paused(Qemu& src, const TempDir& dir, std::vector<std::string> dst_args, std::unique_ptr<Qemu>& dst,
                       nlohmann::json& report, const std::vector<std::string>& engine_args) {
  const std::string sock = dir / "mig.sock";
  dst_args.insert(dst_args.end(), {"-S", "-incoming", "unix:" + sock});
  dst = std::make_unique<Qemu>(dir, dst_args);
  std::vector<std::string> cmd{engine(), "attach",   "--pid",           std::to_string(src.pid()), "--to",
                               "unix:" + sock, "--policy", "dpdc", "--max-bandwidth", "100", "--json"};
  cmd.insert(cmd.end(), engine_args.begin(), engine_args.end());
  auto r = run(cmd, {}, 120s);
  ASSERT_EQ(r.code, 0) << r.err;
  report = nlohmann::json::parse(r.out);
  ASSERT_EQ(dst->wait_migration(30s).value("status", ""), "completed");
  EXPECT_EQ(status_of(*dst), "paused");
  EXPECT_EQ(status_of(src), "postmigrate");
}

::testing::AssertionResult same_ram(Qemu& src, Qemu& dst, const TempDir& dir) {
  auto a = pmem(src, dir, 0, kRamBytes);
  auto b = pmem(dst, dir, 0, kRamBytes);
  if (a.size() != kRamBytes || b.size() != kRamBytes) return ::testing::AssertionFailure() << "pmemsave came up short";
  std::uint64_t diff = 0;
  while (diff < kRamBytes && a[diff] == b[diff]) ++diff;
  if (diff == kRamBytes) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "first difference at guest physical address " << diff;
}

}  // namespace dpdc::test::qemu_guest
