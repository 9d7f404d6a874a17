#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>

#include "dpdc/error.h"
#include "loader/dirty_track_loader.h"

namespace dpdc {

namespace {
constexpr long kBpfFsMagic = 0xcafe4a11;
}

void ensure_bpffs(const std::filesystem::path& root) {
  struct statfs st {};
  if (::statfs(root.c_str(), &st) == 0 && st.f_type == kBpfFsMagic) return;
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  // Pins need a BPF filesystem; a fresh machine may not have one mounted.
  if (::mount("bpf", root.c_str(), "bpf", 0, "mode=0700") != 0) {
    throw_errno(errno, "mounting a BPF filesystem on " + root.string() + " (needed to pin the tracker's maps)",
                ErrorKind::BpfUnavailable);
  }
}

}  // namespace dpdc

#include <bpf/libbpf.h>

namespace dpdc {

void require_bpf_support() {
  int rc = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, nullptr);
  if (rc == 1) return;
  int err = rc < 0 ? -rc : EOPNOTSUPP;
  if (err == EPERM || err == EACCES) {
    throw_errno(err, "loading a BPF program");
  }
  throw Error(ErrorKind::BpfUnavailable,
              std::string("BPF is not available on this kernel (") + std::strerror(err) +
                  "); dpdc needs a kernel with CONFIG_BPF_SYSCALL and raw tracepoint programs");
}

}  // namespace dpdc
