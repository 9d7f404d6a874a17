#pragma once
// TCP on 127.0.0.1 for the tests: a listener on a port the kernel picks, and
// a port nobody listens on (for refused connections).
#include <netinet/in.h>
#include <sys/socket.h>

#include "dpdc/unique_fd.h"

namespace dpdc::test {

class LoopbackListener {
 public:
  LoopbackListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0 && ::listen(fd_.get(), 1) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  int fd() const { return fd_.get(); }
  int port() const { return port_; }  // 0 if the listener could not be set up
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
  int port_ = 0;
};

// A loopback port that was free a moment ago: connecting to it is refused.
inline int free_loopback_port() { return LoopbackListener().port(); }

}  // namespace dpdc::test
