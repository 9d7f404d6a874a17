// dpdc-engine as a user meets it: help, and a one-line error with its own
// exit code for each way `attach` can be pointed at the wrong thing.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "facilities.h"
#include "subprocess.h"

namespace dpdc {
namespace {

using namespace std::chrono_literals;

std::string engine() { return test::bin("dpdc-engine"); }

// One line on stderr, naming the problem.
void expect_one_line_error(const test::RunResult& r, int code, const std::string& needle) {
  EXPECT_EQ(r.code, code) << "stdout: " << r.out << "\nstderr: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_EQ(r.err.rfind("dpdc-engine: ", 0), 0u) << r.err;
}

pid_t reaped_pid() {
  pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  ::waitpid(p, nullptr, 0);
  return p;
}

TEST(EngineCli, HelpExplainsAttach) {
  auto r = test::run({engine(), "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("attach"), std::string::npos);
  r = test::run({engine(), "attach", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* opt : {"--pid", "--observe", "--seconds", "--json", "--qmp"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
}

TEST(EngineCli, BadUsageExits2) {
  expect_one_line_error(test::run({engine(), "attach"}), 2, "--pid");
  expect_one_line_error(test::run({engine(), "attach", "--pid", "abc", "--observe"}), 2, "--pid");
  expect_one_line_error(test::run({engine(), "attach", "--pid", "1"}), 2, "--observe");
  expect_one_line_error(test::run({engine(), "frobnicate"}), 2, "subcommand");
}

TEST(EngineCli, MigrationBadInputExits2BeforeTouchingAnything) {
  test::Child sleeper({"/bin/sleep", "60"});
  const std::string pid = std::to_string(sleeper.pid());
  expect_one_line_error(test::run({engine(), "attach", "--pid", pid, "--to", "ftp:host"}), 2, "tcp:HOST:PORT");
  expect_one_line_error(test::run({engine(), "attach", "--pid", pid, "--to", "tcp:localhost:99999"}), 2, "port");
  expect_one_line_error(test::run({engine(), "attach", "--pid", pid, "--to", "unix:/tmp/x", "--policy", "postcopy"}),
                        2, "--policy");
  expect_one_line_error(test::run({engine(), "attach", "--pid", pid, "--to", "unix:/tmp/x", "--observe"}), 2,
                        "excludes");
  EXPECT_EQ(::kill(sleeper.pid(), 0), 0) << "the target must be untouched";
}

TEST(EngineCli, MigrationOfANonKvmProcessIsRefused) {
  DPDC_REQUIRE(bpf);
  test::Child sleeper({"/bin/sleep", "60"});
  expect_one_line_error(
      test::run({engine(), "attach", "--pid", std::to_string(sleeper.pid()), "--to", "unix:/tmp/dpdc-nowhere.sock"}),
      3, "is not a KVM process");
}

TEST(EngineCli, NoSuchProcess) {
  expect_one_line_error(test::run({engine(), "attach", "--pid", std::to_string(reaped_pid()), "--observe"}), 3,
                        "no such process");
}

TEST(EngineCli, NotAKvmProcess) {
  DPDC_REQUIRE(bpf);
  test::Child sleeper({"/bin/sleep", "60"});
  expect_one_line_error(test::run({engine(), "attach", "--pid", std::to_string(sleeper.pid()), "--observe"}), 3,
                        "is not a KVM process");
}

TEST(EngineCli, MissingPrivileges) {
  test::Child sleeper({"/bin/sleep", "60"});
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to an unprivileged user";
  auto drop = [] {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(126);
  };
  expect_one_line_error(test::run({engine(), "attach", "--pid", std::to_string(sleeper.pid()), "--observe"}, drop),
                        4, "needs root");
}

TEST(EngineCli, BpfUnavailable) {
  test::Child sleeper({"/bin/sleep", "60"});
  // A seccomp filter makes bpf(2) fail with ENOSYS, as on a kernel built
  // without BPF: the engine must say so rather than fail later.
  auto no_bpf = [] {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bpf, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
      ::_exit(126);
  };
  expect_one_line_error(
      test::run({engine(), "attach", "--pid", std::to_string(sleeper.pid()), "--observe"}, no_bpf), 5,
      "BPF is not available");
}

// QEMU/KVM without a ring: the ring by name is refused with the flag to add;
// auto follows its dirty bitmap, which needs QMP (this QEMU has none).
TEST(EngineCli, KvmProcessWithoutDirtyRing) {
  DPDC_REQUIRE(bpf);
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(qemu);
  // QEMU with KVM but without dirty-ring-size: it holds a VM, no ring.
  test::Child qemu({"/usr/bin/qemu-system-x86_64", "-M", "pc", "-accel", "kvm", "-cpu", "qemu64", "-m", "64M", "-S",
                    "-display", "none", "-nodefaults", "-serial", "none", "-monitor", "none"});
  std::string fds = "/proc/" + std::to_string(qemu.pid()) + "/maps";
  // Wait until QEMU has created its vCPU (its kvm_run mapping appears).
  for (int i = 0; i < 300; ++i) {
    auto r = test::run({"/bin/grep", "-q", "anon_inode:kvm-vcpu", fds});
    if (r.code == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  expect_one_line_error(test::run({engine(), "attach", "--pid", std::to_string(qemu.pid()), "--observe",
                                   "--dirty-source", "ring"}),
                        3, "dirty-ring-size");
  expect_one_line_error(test::run({engine(), "attach", "--pid", std::to_string(qemu.pid()), "--observe"}), 3,
                        "-qmp unix:");
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/bpf/dpdc/" + std::to_string(qemu.pid()))) << "nothing stays pinned";
}

}  // namespace
}  // namespace dpdc
