#pragma once
// A dpdc-vm process for the tests, with its QMP client: quit over QMP when
// done, SIGKILLed as a fallback (by test::Child).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dpdc/unique_fd.h"
#include "qemu/qmp_client.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace dpdc::test {

class VmProcess {
 public:
  // Starts dpdc-vm with a QMP socket in `dir` plus `extra` arguments.
  VmProcess(const TempDir& dir, const std::string& name, std::vector<std::string> extra);
  ~VmProcess();
  VmProcess(const VmProcess&) = delete;
  VmProcess& operator=(const VmProcess&) = delete;

  pid_t pid() const { return child_->pid(); }
  QmpClient& qmp() { return *qmp_; }
  Child& process() { return *child_; }
  std::string status();
  // The guest's RAM as the VMM holds it (its memfd), read now.
  std::vector<std::uint8_t> ram();
  // Its memfd, opened read-only: for guests too large to copy, read with
  // pread() (which, unlike the mapping ram() reads, leaves holes unallocated).
  UniqueFd ram_file();
  nlohmann::json workload_area();
  // Polls x-dpdc-query-workload until every vCPU finished its rounds.
  bool wait_finished(std::chrono::seconds limit);

 private:
  std::string qmp_path_;
  std::unique_ptr<Child> child_;
  std::unique_ptr<QmpClient> qmp_;
};

}  // namespace dpdc::test
