#pragma once
namespace dpdc {
// Throws Error(Permission) unless this process may load BPF tracing programs
// and read another process's fds: root, or CAP_SYS_ADMIN, or CAP_BPF with
// CAP_PERFMON and CAP_SYS_PTRACE.
void require_tracing_privileges();
}  // namespace dpdc
