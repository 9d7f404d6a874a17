#include "qemu_process.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

namespace dpdc::test {

using namespace std::chrono_literals;

std::string qemu_binary() {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    std::size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::filesystem::path cand = std::filesystem::path(p.substr(start, end - start)) / "qemu-system-x86_64";
    if (::access(cand.c_str(), X_OK) == 0) return cand.string();
    start = end + 1;
  }
  return "/usr/bin/qemu-system-x86_64";
}

std::vector<std::string> qemu_accel_args() {
  const char* accel = std::getenv("DPDC_TEST_QEMU_ACCEL");
  if (accel != nullptr && std::string(accel) == "kvm") return {"-accel", "kvm,dirty-ring-size=4096", "-cpu", "qemu64"};
  if (accel != nullptr && std::string(accel) == "kvm-bitmap") return {"-accel", "kvm", "-cpu", "qemu64"};
  return {"-accel", "tcg"};
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Qemu::Qemu(const TempDir& dir, std::vector<std::string> args) : sock_(dir / ("qmp" + std::to_string(++counter_))) {
  // The test's own QMP socket goes last: a -qmp in `args` comes first and is
  // the one a tool finds on QEMU's command line (QEMU serves one client per socket).
  std::vector<std::string> argv{qemu_binary(), "-display", "none", "-nodefaults"};
  // A test's own -accel (KVM with a dirty ring, say) replaces the default
  // one; QEMU would otherwise take the first -accel that works.
  const bool own_accel = std::find(args.begin(), args.end(), "-accel") != args.end();
  const auto defaults = qemu_accel_args();
  for (std::size_t i = 0; i < defaults.size(); i += 2) {
    if (own_accel && defaults[i] == "-accel") continue;
    argv.push_back(defaults[i]);
    argv.push_back(defaults[i + 1]);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-qmp", "unix:" + sock_ + ",server=on,wait=off"});
  child_ = std::make_unique<Child>(argv);
  // A minute: QEMU/KVM nested in the VM runner, beside a second VM on a
  // loaded host, took more than 10 s to open its socket. A QEMU that exits
  // meanwhile fails at once, with its own words.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!qmp_) {
    try {
      qmp_ = std::make_unique<QmpClient>(sock_);
    } catch (const std::exception&) {
      if (auto code = child_->wait(0ms)) {
        throw std::runtime_error("QEMU exited (status " + std::to_string(*code) + ") before its QMP socket was ready: " +
                                 child_->err());
      }
      if (std::chrono::steady_clock::now() > deadline) throw;
      std::this_thread::sleep_for(100ms);
    }
  }
}

Qemu::~Qemu() {
  try {
    if (qmp_) qmp_->execute("quit");
  } catch (...) {
  }
  if (child_ && !child_->wait(5s)) child_->signal(SIGKILL);
}

nlohmann::json Qemu::wait_migration(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json r;
  while (std::chrono::steady_clock::now() < deadline) {
    r = qmp_->execute("query-migrate");
    const std::string status = r.value("status", "");
    if (status == "completed" || status == "failed") return r;
    std::this_thread::sleep_for(50ms);
  }
  return r;
}

}  // namespace dpdc::test
