#include "session/privileges.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "dpdc/error.h"

namespace dpdc {

namespace {
bool has_cap(const __user_cap_data_struct (&data)[2], int cap) {
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}
}  // namespace

void require_tracing_privileges() {
  if (::geteuid() == 0) return;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  // No glibc wrapper without libcap; the raw syscall is stable ABI.
  if (::syscall(SYS_capget, &hdr, data) == 0) {
    constexpr int kCapBpf = 39, kCapPerfmon = 38;
    if (has_cap(data, CAP_SYS_ADMIN)) return;
    if (has_cap(data, kCapBpf) && has_cap(data, kCapPerfmon) && has_cap(data, CAP_SYS_PTRACE)) return;
  }
  throw Error(ErrorKind::Permission,
              "dpdc-engine needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE) to trace a VMM; run it as root");
}

}  // namespace dpdc
