#include "live/transport.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "base/output_file.h"
#include "dpdc/clock.h"
#include "dpdc/error.h"
#include "live/stop_flag.h"

namespace dpdc {

namespace {

void sleep_ns(std::uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000ull), static_cast<long>(ns % 1'000'000'000ull)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

[[noreturn]] void connect_failed(const Destination& d, int err) {
  throw Error(ErrorKind::Runtime, "cannot connect to " + d.uri + ": " + std::strerror(err) +
                                      "; is the destination listening (dpdc-vm -incoming " + d.uri + ")?");
}

UniqueFd open_destination(const Destination& d) {
  switch (d.kind) {
    case Destination::Kind::File: {
      return create_output_file(d.path, "migration stream");
    }
    case Destination::Kind::Unix: {
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd) throw_errno(errno, "socket");
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, d.path.c_str(), d.path.size() + 1);
      if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) connect_failed(d, errno);
      return fd;
    }
    case Destination::Kind::Tcp: {
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      int rc = ::getaddrinfo(d.host.c_str(), std::to_string(d.port).c_str(), &hints, &res);
      if (rc != 0) {
        throw Error(ErrorKind::Usage, "cannot resolve " + d.host + ": " + ::gai_strerror(rc));
      }
      int last = ECONNREFUSED;
      for (addrinfo* a = res; a; a = a->ai_next) {
        UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (!fd) continue;
        if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) {
          ::freeaddrinfo(res);
          return fd;
        }
        last = errno;
      }
      ::freeaddrinfo(res);
      connect_failed(d, last);
    }
  }
  throw Error(ErrorKind::Usage, "unsupported destination " + d.uri);
}

}  // namespace

Transport::Transport(const Destination& dest, const TransportOptions& options)
    : dest_(dest), options_(options), pacer_(options.max_bytes_per_s) {
  if (options_.buffers < 2 || options_.buffer_bytes == 0) {
    throw Error(ErrorKind::Usage, "the transport needs at least two non-empty buffers");
  }
  fd_ = open_destination(dest_);
  int rc = io_uring_queue_init(8, &ring_, 0);
  if (rc < 0) throw_errno(-rc, "io_uring_queue_init (is io_uring disabled by kernel.io_uring_disabled?)");
  ring_ok_ = true;
  buffers_.resize(options_.buffers);
  for (unsigned i = 0; i < options_.buffers; ++i) {
    buffers_[i].resize(options_.buffer_bytes);
    if (i) free_.push_back(i);
  }
  current_ = 0;
  pacer_.start(monotonic_ns());
}

Transport::~Transport() {
  // The kernel must never write from freed buffers, so what is in flight is
  // reaped first. Here only after a failure (flush() reaped the rest): the
  // socket is shut down so that a send blocked on a stalled peer fails now.
  if (ring_ok_) {
    if (in_flight_ && fd_ && dest_.kind != Destination::Kind::File) ::shutdown(fd_.get(), SHUT_RDWR);
    options_.interrupt = nullptr;
    options_.stall_ns = 10'000'000'000;
    try {
      while (in_flight_) reap_one();
    } catch (...) {
    }
    if (!in_flight_) io_uring_queue_exit(&ring_);  // else leak the ring: its buffers may still be read
  }
}

void Transport::write(std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    std::size_t n = std::min(bytes.size(), options_.buffer_bytes - fill_);
    std::memcpy(buffers_[current_].data() + fill_, bytes.data(), n);
    fill_ += n;
    accepted_ += n;
    bytes = bytes.subspan(n);
    if (fill_ == options_.buffer_bytes) seal_current();
  }
}

void Transport::seal_current() {
  if (fill_ == 0) return;
  filled_.push_back({current_, 0, fill_});
  fill_ = 0;
  pump();
  current_ = take_free_buffer();
}

unsigned Transport::take_free_buffer() {
  while (free_.empty()) reap_one();
  unsigned b = free_.back();
  free_.pop_back();
  return b;
}

void Transport::pump() {
  if (in_flight_ || filled_.empty()) return;
  Chunk c = filled_.front();
  filled_.pop_front();
  if (std::uint64_t wait = pacer_.reserve(c.length, monotonic_ns())) sleep_ns(wait);
  submit(c);
}

void Transport::submit(const Chunk& c) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) throw Error(ErrorKind::Runtime, "io_uring submission queue full");
  const std::uint8_t* data = buffers_[c.buffer].data() + c.offset;
  if (dest_.kind == Destination::Kind::File) {
    io_uring_prep_write(sqe, fd_.get(), data, static_cast<unsigned>(c.length), file_offset_);
  } else {
    io_uring_prep_send(sqe, fd_.get(), data, c.length, MSG_NOSIGNAL);
  }
  io_uring_sqe_set_data64(sqe, c.buffer);
  int rc = io_uring_submit(&ring_);
  if (rc < 0) throw_errno(-rc, "io_uring_submit");
  if (!in_flight_) last_progress_ns_ = monotonic_ns();
  in_flight_ = true;
  flight_ = c;
}

void Transport::reap_one() {
  if (!in_flight_) throw Error(ErrorKind::Runtime, "transport: waiting with nothing in flight");
  io_uring_cqe* cqe = nullptr;
  for (;;) {
    __kernel_timespec tick{0, 100'000'000};  // how often a signal or a stall is noticed
    const int rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &tick);
    if (rc == 0) break;
    if (rc != -ETIME && rc != -EINTR) throw_errno(-rc, "io_uring_wait_cqe");
    if (options_.interrupt && options_.interrupt->raised()) {
      throw Error(ErrorKind::Interrupted, "interrupted while sending the stream to " + dest_.uri);
    }
    if (options_.stall_ns && monotonic_ns() - last_progress_ns_ >= options_.stall_ns) {
      throw Error(ErrorKind::Runtime, "the destination " + dest_.uri + " took no data for " +
                                          std::to_string(options_.stall_ns / 1'000'000'000) +
                                          " s; it is stalled or gone (--stall-timeout sets how long to wait)");
    }
  }
  int res = cqe->res;
  io_uring_cqe_seen(&ring_, cqe);
  in_flight_ = false;
  if (res == -EINTR || res == -EAGAIN) {
    submit(flight_);
    return;
  }
  if (res < 0) {
    int err = -res;
    if (err == EPIPE || err == ECONNRESET) {
      throw Error(ErrorKind::Runtime, "the destination " + dest_.uri + " closed the connection");
    }
    throw_errno(err, "writing the stream to " + dest_.uri);
  }
  auto done = static_cast<std::size_t>(res);
  completed_ += done;
  last_progress_ns_ = monotonic_ns();
  if (dest_.kind == Destination::Kind::File) file_offset_ += done;
  if (done < flight_.length) {  // short write: the rest goes next, before anything else
    Chunk rest{flight_.buffer, flight_.offset + done, flight_.length - done};
    submit(rest);
    return;
  }
  free_.push_back(flight_.buffer);
  pump();
}

std::uint64_t Transport::drain(std::uint64_t timeout_ns, std::uint64_t slack) {
  flush();
  if (dest_.kind == Destination::Kind::File) return 0;
  const std::uint64_t deadline = monotonic_ns() + timeout_ns;
  for (;;) {
    int queued = 0;
    if (::ioctl(fd_.get(), SIOCOUTQ, &queued) != 0) return 0;  // not a socket that tells: nothing to wait for
    if (static_cast<std::uint64_t>(queued) <= slack || monotonic_ns() >= deadline) {
      return static_cast<std::uint64_t>(std::max(queued, 0));
    }
    sleep_ns(1'000'000);
  }
}

void Transport::flush() {
  if (fill_ > 0) {
    filled_.push_back({current_, 0, fill_});
    fill_ = 0;
    pump();
    current_ = take_free_buffer();
  }
  while (in_flight_ || !filled_.empty()) {
    if (!in_flight_) pump();
    if (in_flight_) reap_one();
  }
}

}  // namespace dpdc
