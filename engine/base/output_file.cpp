#include "base/output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dpdc/error.h"

namespace dpdc {

UniqueFd create_output_file(const std::string& path, std::string_view what) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd >= 0) return UniqueFd(fd);
  const int err = errno;
  const std::string w(what);
  if (err == ELOOP) {
    throw Error(ErrorKind::Usage, "refusing to write the " + w + " through the symbolic link " + path +
                                      "; name the file itself");
  }
  if (err == EISDIR) throw Error(ErrorKind::Usage, path + " is a directory; name a file for the " + w);
  throw Error(ErrorKind::Usage, "cannot create the " + w + " " + path + ": " + std::strerror(err) +
                                    "; name a writable path");
}

namespace {

void write_loop(int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset, bool at, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = at ? ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset))
                         : ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw Error(ErrorKind::Runtime, "writing " + path + " failed: " + std::strerror(n < 0 ? errno : EIO) +
                                          " (disk full?)");
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
}

}  // namespace

void write_all(int fd, std::span<const std::uint8_t> bytes, const std::string& path) {
  write_loop(fd, bytes, 0, false, path);
}

void write_all_at(int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset, const std::string& path) {
  write_loop(fd, bytes, offset, true, path);
}

}  // namespace dpdc
