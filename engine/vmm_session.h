#pragma once
// The checks and connections every attach makes, in the order a user can act
// on them: the process exists, we may trace it, BPF works, it is a KVM VMM
// with a dirty ring, its QMP socket answers, and what its RAM looks like.
#include <sys/types.h>

#include <memory>
#include <string>

#include "memory_layout.h"
#include "proc_inspect.h"
#include "qmp_client.h"

namespace dpdc {

struct VmmSession {
  VmmProcess process;
  std::unique_ptr<QmpClient> qmp;
  MemoryLayout layout;
  bool is_dpdc_vm = false;
};

// Throws Error with the exit-code kind and a one-line fix for the first check that fails.
VmmSession open_vmm_session(pid_t pid, const std::string& qmp_path);

}  // namespace dpdc
