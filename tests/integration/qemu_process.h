#pragma once
// A QEMU process for the tests, with its QMP socket: started with the given
// arguments (no display), quit over QMP when done, SIGKILLed as a fallback.
// The accelerator is TCG unless DPDC_TEST_QEMU_ACCEL=kvm (the VM runner's
// qemu-kvm group): then `-accel kvm,dirty-ring-size=4096 -cpu qemu64`, KVM
// with a dirty ring (so the engine tracks it with BPF) and the CPU model the
// kvm_pvm hosts and nested kvm-amd both run; with DPDC_TEST_QEMU_ACCEL=
// kvm-bitmap (group qemu-bitmap) the same without the ring: KVM's dirty
// bitmap, QEMU's default.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qemu/qmp_client.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace dpdc::test {

std::string qemu_binary();
// "-accel tcg", or with DPDC_TEST_QEMU_ACCEL=kvm|kvm-bitmap the KVM arguments above.
std::vector<std::string> qemu_accel_args();
std::vector<std::uint8_t> read_file(const std::string& path);
void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes);

class Qemu {
 public:
  Qemu(const TempDir& dir, std::vector<std::string> args);
  ~Qemu();
  QmpClient& qmp() { return *qmp_; }
  pid_t pid() const { return child_->pid(); }
  std::string stderr_text() { return child_->err(); }
  // Polls query-migrate until completed or failed (or the timeout passes).
  nlohmann::json wait_migration(std::chrono::seconds timeout = std::chrono::seconds(20));

 private:
  static inline int counter_ = 0;
  std::string sock_;
  std::unique_ptr<Child> child_;
  std::unique_ptr<QmpClient> qmp_;
};

}  // namespace dpdc::test
