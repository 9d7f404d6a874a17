#include "stop_watcher.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace dpdc::test {

StopWatcher::StopWatcher(const std::string& qmp_path, std::function<void()> on_stop) : on_stop_(std::move(on_stop)) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, qmp_path.c_str(), sizeof(a.sun_path) - 1);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error("stop watcher: cannot connect to " + qmp_path + ": " + std::strerror(errno));
  }
  const std::string hello = "{\"execute\": \"qmp_capabilities\"}\r\n";
  (void)!::send(fd_, hello.data(), hello.size(), MSG_NOSIGNAL);
  thread_ = std::thread([this] {
    std::string seen;
    char buf[4096];
    while (!quit_) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      seen.append(buf, static_cast<std::size_t>(n));
      if (seen.find("\"STOP\"") != std::string::npos) {
        on_stop_();
        fired_ = true;
        break;
      }
    }
  });
}

StopWatcher::~StopWatcher() {
  quit_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  thread_.join();
  ::close(fd_);
}

}  // namespace dpdc::test
