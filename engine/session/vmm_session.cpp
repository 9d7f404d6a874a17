#include "session/vmm_session.h"

#include "dpdc/error.h"
#include "loader/dirty_track_loader.h"
#include "session/privileges.h"

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
  if (is_qemu(s.process)) {
    // With or without a ring: the caller chose how to follow it (dirty_source_choice.h).
    require_kvm_vmm(s.process);
    // QEMU names neither its memslots nor their layout: the tracker reads
    // them from KVM and places them by host address in the shared backend.
    s.qemu = std::make_unique<QemuSource>(s.process, qmp_path);
    s.layout.pages = s.qemu->shared_ram().size() / DPDC_PAGE_SIZE;
    s.layout.regions = s.qemu->regions();
  } else {
    require_dirty_ring_vmm(s.process);
    s.qmp = std::make_unique<QmpClient>(find_qmp(qmp_path, s.process));
    const auto& g = s.qmp->greeting();
    s.is_dpdc_vm = g["QMP"].value("version", nlohmann::json::object()).value("package", "") == "dpdc-vm";
    if (!s.is_dpdc_vm) {
      throw Error(ErrorKind::Target, "pid " + std::to_string(pid) + " (" + s.process.comm +
                                         ") is neither QEMU nor a dpdc-vm; the engine knows no other VMM");
    }
    s.layout = layout_from_dpdc_vm(s.qmp->execute("x-dpdc-query-memory"));
  }
  if (s.layout.pages > 0xffffffffull) throw Error(ErrorKind::Target, "guests above 16 TiB are not supported");
  return s;
}

}  // namespace dpdc
