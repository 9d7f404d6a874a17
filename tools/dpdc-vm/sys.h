// The kernel boundary in dpdc-vm uses dpdc's one convention: dpdc::Error
// through check_sys(), and the shared RAII owners for fds and mappings.
#pragma once

#include "dpdc/error.h"
#include "dpdc/mapping.h"
#include "dpdc/unique_fd.h"

namespace dpdc::vm {

using dpdc::Mapping;
using dpdc::UniqueFd;

// Throws dpdc::Error naming `op` when a syscall returns -1; returns rc otherwise.
inline int check(int rc, const char* op) { return static_cast<int>(check_sys(rc, op)); }
inline long check(long rc, const char* op) { return check_sys(rc, op); }

}  // namespace dpdc::vm
