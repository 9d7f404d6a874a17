#include "vm_process.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <filesystem>
#include <stdexcept>
#include <thread>

#include "dpdc/mapping.h"
#include "dpdc/unique_fd.h"

namespace dpdc::test {

using namespace std::chrono_literals;

VmProcess::VmProcess(const TempDir& dir, const std::string& name, std::vector<std::string> extra)
    : qmp_path_(dir / (name + ".qmp")) {
  std::vector<std::string> argv = {bin("dpdc-vm"), "-qmp", "unix:" + qmp_path_ + ",server=on,wait=off"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  child_ = std::make_unique<Child>(argv);
  for (int i = 0; i < 600 && !std::filesystem::exists(qmp_path_); ++i) std::this_thread::sleep_for(50ms);
  if (!std::filesystem::exists(qmp_path_)) throw std::runtime_error(name + " did not start: " + child_->err());
  qmp_ = std::make_unique<QmpClient>(qmp_path_, 60s);
}

VmProcess::~VmProcess() {
  try {
    qmp_->execute("quit");
  } catch (...) {
  }
  qmp_.reset();
  child_->wait(30s);
}

std::string VmProcess::status() { return qmp_->execute("query-status").value("status", ""); }

std::vector<std::uint8_t> VmProcess::ram() {
  nlohmann::json mem = qmp_->execute("x-dpdc-query-memory");
  std::string path = "/proc/" + std::to_string(pid()) + "/fd/" + std::to_string(mem["memfd"].get<int>());
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::uint64_t n = mem["ram-size"];
  Mapping m(n, PROT_READ, MAP_SHARED, fd.get(), 0, "mapping guest RAM");
  return {m.as<std::uint8_t>(), m.as<std::uint8_t>() + n};
}

UniqueFd VmProcess::ram_file() {
  nlohmann::json mem = qmp_->execute("x-dpdc-query-memory");
  std::string path = "/proc/" + std::to_string(pid()) + "/fd/" + std::to_string(mem["memfd"].get<int>());
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw std::runtime_error("opening " + path + " failed");
  return fd;
}

nlohmann::json VmProcess::workload_area() { return qmp_->execute("x-dpdc-query-memory")["workload-area"]; }

bool VmProcess::wait_finished(std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!qmp_->execute("x-dpdc-query-workload").value("finished", false)) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(200ms);
  }
  return true;
}

}  // namespace dpdc::test
