#pragma once
// The checks and connections every attach makes, in the order a user can act
// on them: the process exists, we may trace it, BPF works, it is a KVM VMM
// (dpdc-vm: with a dirty ring), its QMP socket answers, and what its RAM looks like:
// dpdc-vm lists its memslots; for QEMU, the shared RAM backend (docs/qemu.md)
// and where QEMU maps it, from which the tracker places KVM's memslots.
#include <sys/types.h>

#include <memory>
#include <string>

#include "live/proc_inspect.h"
#include "qemu/qemu_source.h"
#include "qemu/qmp_client.h"
#include "track/memory_layout.h"

namespace dpdc {

struct VmmSession {
  VmmProcess process;
  std::unique_ptr<QmpClient> qmp;   // dpdc-vm's
  std::unique_ptr<QemuSource> qemu;  // a QEMU's (it holds QEMU's one QMP connection)
  MemoryLayout layout;
  bool is_dpdc_vm = false;
  QmpClient& control() { return qemu ? qemu->qmp() : *qmp; }
};

// Throws Error with the exit-code kind and a one-line fix for the first check that fails.
VmmSession open_vmm_session(pid_t pid, const std::string& qmp_path);

}  // namespace dpdc
