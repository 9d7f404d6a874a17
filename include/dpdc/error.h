#pragma once
// The one error type of dpdc. Every failure that reaches a user carries a
// kind (which maps to the process exit code) and a one-line message that
// says what is wrong and what to do.
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace dpdc {

enum class ErrorKind {
  Runtime = 1,         // anything else that went wrong while working
  Usage = 2,           // bad command line or arguments
  Target = 3,          // the target process is not usable (gone, not KVM, no ring)
  Permission = 4,      // missing privileges
  BpfUnavailable = 5,  // the kernel cannot load or attach the tracker
  Interrupted = 130,   // SIGINT/SIGTERM before the work completed
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }
  int exit_code() const noexcept { return static_cast<int>(kind_); }

 private:
  ErrorKind kind_;
};

// Kernel boundary: every syscall and libbpf result goes through one of
// these. EPERM/EACCES always become ErrorKind::Permission, because the fix
// (run as root or with CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN) is the same everywhere.
[[noreturn]] inline void throw_errno(int err, const std::string& what,
                                     ErrorKind kind = ErrorKind::Runtime) {
  if (err == EPERM || err == EACCES) {
    throw Error(ErrorKind::Permission,
                what + ": " + std::strerror(err) + "; run as root (or with CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE)");
  }
  throw Error(kind, what + ": " + std::strerror(err));
}

// For calls that return -1 and set errno, and for libbpf calls that return a negative errno.
inline long check_sys(long rc, const char* what, ErrorKind kind = ErrorKind::Runtime) {
  if (rc == -1) throw_errno(errno, what, kind);
  if (rc < -1) throw_errno(static_cast<int>(-rc), what, kind);
  return rc;
}

}  // namespace dpdc
