#include "facilities.h"

#include <fcntl.h>
#include "dpdc/kvm_uapi.h"
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "dpdc/error.h"
#include "loader/dirty_track_loader.h"

namespace dpdc::test {

std::optional<std::string> missing_kvm() {
  struct stat st {};
  if (::stat("/dev/kvm", &st) != 0) return std::string("cannot open /dev/kvm: ") + std::strerror(errno);
  if (!S_ISCHR(st.st_mode)) return std::string("/dev/kvm is not a character device");
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("cannot open /dev/kvm: ") + std::strerror(errno);
  int version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  ::close(fd);
  if (version != KVM_API_VERSION) return std::string("/dev/kvm does not answer KVM_GET_API_VERSION");
  return std::nullopt;
}

std::optional<std::string> missing_bpf() {
  try {
    require_bpf_support();
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

std::optional<std::string> missing_qemu() {
  if (::system("qemu-system-x86_64 --version >/dev/null 2>&1") != 0) {
    return std::string("qemu-system-x86_64 is not installed or does not run");
  }
  return std::nullopt;
}

bool required(const char* facility) {
  std::string name = "DPDC_REQUIRE_";
  for (const char* p = facility; *p; ++p) name += static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
  const char* v = std::getenv(name.c_str());
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace dpdc::test
