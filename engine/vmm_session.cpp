#include "vmm_session.h"

#include "dirty_track_loader.h"
#include "dpdc/error.h"
#include "privileges.h"

namespace dpdc {

namespace {

std::string find_qmp(const std::string& given, const VmmProcess& vmm) {
  if (!given.empty()) return given;
  if (auto path = qmp_socket_from_argv(vmm.argv)) return *path;
  throw Error(ErrorKind::Target, "cannot find the QMP socket of pid " + std::to_string(vmm.pid) +
                                     ": its command line has no -qmp unix:PATH; pass --qmp PATH or start it with "
                                     "-qmp unix:PATH,server=on,wait=off");
}

}  // namespace

VmmSession open_vmm_session(pid_t pid, const std::string& qmp_path) {
  if (pid <= 0) throw Error(ErrorKind::Usage, "--pid must be a positive process id");
  require_process_exists(pid);
  require_tracing_privileges();
  require_bpf_support();
  VmmSession s;
  s.process = inspect_process(pid);
  require_dirty_ring_vmm(s.process);
  s.qmp = std::make_unique<QmpClient>(find_qmp(qmp_path, s.process));
  const auto& g = s.qmp->greeting();
  s.is_dpdc_vm = g["QMP"].value("version", nlohmann::json::object()).value("package", "") == "dpdc-vm";
  if (s.is_dpdc_vm) {
    s.layout = layout_from_dpdc_vm(s.qmp->execute("x-dpdc-query-memory"));
  } else {
    // QEMU does not name its KVM memslots over QMP; learn them from the events.
    auto summary = s.qmp->execute("query-memory-size-summary");
    s.layout = layout_learning_slots(summary.at("base-memory").get<std::uint64_t>());
  }
  if (s.layout.pages > 0xffffffffull) throw Error(ErrorKind::Target, "guests above 16 TiB are not supported");
  return s;
}

}  // namespace dpdc
