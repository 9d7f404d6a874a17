#include "relay.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace dpdc::test {

namespace {

sockaddr_un address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) throw std::invalid_argument("socket path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

Relay::Relay(std::string listen_path, std::string target_path)
    : listen_path_(std::move(listen_path)), target_path_(std::move(target_path)) {
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un a = address(listen_path_);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) < 0 ||
      ::listen(listen_fd_, 1) < 0) {
    throw std::runtime_error("relay: cannot listen at " + listen_path_ + ": " + std::strerror(errno));
  }
  thread_ = std::thread([this] { run(); });
}

Relay::~Relay() {
  quit_ = true;
  thread_.join();
  ::close(listen_fd_);
  ::unlink(listen_path_.c_str());
}

void Relay::run() {
  int in = -1, out = -1;
  while (!quit_ && in < 0) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) in = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }
  if (in >= 0) {
    out = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un a = address(target_path_);
    if (::connect(out, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) < 0) cut_ = true;
  }
  std::vector<char> buf(1 << 16);
  while (!quit_ && in >= 0 && !cut_) {
    if (stalled_) {  // read nothing: the engine's socket fills up
      ::usleep(20'000);
      continue;
    }
    pollfd p{in, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const std::uint64_t pace = pace_.load();
    const ssize_t n = ::recv(in, buf.data(), pace ? std::min<std::uint64_t>(pace, buf.size()) : buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the engine closed its end
    if (cut_) break;  // the bytes read just now go nowhere, as on a cut link
    if (!write_all(out, buf.data(), static_cast<std::size_t>(n))) break;
    forwarded_ += static_cast<std::uint64_t>(n);
    if (pace) ::usleep(10'000);
  }
  // A cut link: both ends see it at once (RST-like for the engine's pending
  // sends, end-of-file for the destination).
  if (in >= 0) ::close(in);
  if (out >= 0) ::close(out);
  ended_ = true;
}

}  // namespace dpdc::test
