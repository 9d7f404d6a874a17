#include "session/dirty_source_choice.h"

#include "dpdc/error.h"
#include "live/proc_inspect.h"
#include "qemu/qemu_source.h"

namespace dpdc {

DirtySourceKind parse_dirty_source(std::string_view text) {
  if (text == "auto") return DirtySourceKind::Auto;
  if (text == "ring") return DirtySourceKind::Ring;
  if (text == "fault") return DirtySourceKind::Fault;
  if (text == "content") return DirtySourceKind::Content;
  throw Error(ErrorKind::Usage, "--dirty-source must be auto, ring, fault or content, not '" + std::string(text) + "'");
}

std::string_view dirty_source_json_name(DirtySourceKind kind) {
  switch (kind) {
    case DirtySourceKind::Content: return "page-content";
    case DirtySourceKind::Fault: return "kvm-dirty-bitmap";
    default: return "kvm-dirty-ring";
  }
}

VmmKind vmm_kind_of(const VmmProcess& process) {
  return {static_cast<std::uint64_t>(process.pid), is_qemu(process), process.has_kvm_vm, process.ring_entries};
}

DirtySourceKind choose_dirty_source(DirtySourceKind requested, const VmmKind& vmm) {
  const std::string who = (vmm.qemu ? "QEMU pid " : "pid ") + std::to_string(vmm.pid);
  if (!vmm.qemu) {
    // dpdc-vm always has a ring; its RAM is not scanned by content.
    if (requested == DirtySourceKind::Content || requested == DirtySourceKind::Fault) {
      throw Error(ErrorKind::Usage, std::string("--dirty-source ") +
                                        (requested == DirtySourceKind::Fault ? "fault" : "content") +
                                        " is for QEMU guests; " + who +
                                        " is tracked by its KVM dirty ring (use auto or ring)");
    }
    return DirtySourceKind::Ring;
  }
  if (requested == DirtySourceKind::Content) return DirtySourceKind::Content;
  if (!vmm.kvm) {
    if (requested == DirtySourceKind::Ring || requested == DirtySourceKind::Fault) {
      throw Error(ErrorKind::Target, who + " runs without KVM (TCG): no KVM hook sees its writes; start it with "
                                           "-accel kvm or use --dirty-source content");
    }
    return DirtySourceKind::Content;
  }
  if (vmm.ring_entries == 0) {
    if (requested == DirtySourceKind::Ring) {
      throw Error(ErrorKind::Target, who + " uses KVM without a dirty ring: restart it with "
                                           "-accel kvm,dirty-ring-size=4096, or follow its dirty bitmap "
                                           "(--dirty-source fault or auto)");
    }
    return DirtySourceKind::Fault;
  }
  if (requested == DirtySourceKind::Fault) {
    throw Error(ErrorKind::Usage, who + " has a KVM dirty ring (" + std::to_string(vmm.ring_entries) +
                                      " entries): QEMU keeps no dirty bitmap then; use --dirty-source ring or auto");
  }
  return DirtySourceKind::Ring;
}

}  // namespace dpdc
