#pragma once
// The outgoing stream: bytes copied into a few large buffers, each written
// with io_uring while the next one fills, so the page loop never blocks in a
// per-page syscall. One write is in flight at a time: on a stream socket two
// outstanding sends could interleave after a short write, and one large
// write at a time already keeps a socket or file busy.
#include <liburing.h>

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "dpdc/unique_fd.h"
#include "live/pacer.h"
#include "stream/destination.h"

namespace dpdc {

class StopFlag;

struct TransportOptions {
  std::size_t buffer_bytes = 1 << 20;
  unsigned buffers = 4;
  double max_bytes_per_s = 0;  // 0: no cap
  // A wait for the destination ends with Error(Interrupted) when this is
  // raised (SIGINT/SIGTERM), and with Error(Runtime) when the destination
  // took no byte for `stall_ns` (0: wait for ever): a paused guest must not
  // wait on a peer that is gone without a word (a dead host, a stalled link).
  const StopFlag* interrupt = nullptr;
  std::uint64_t stall_ns = 60'000'000'000;
};

class Transport {
 public:
  // Connects (tcp, unix) or creates (file). Throws Error naming the destination.
  Transport(const Destination& dest, const TransportOptions& options = {});
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void write(std::span<const std::uint8_t> bytes);
  // Waits until every byte written so far has reached the kernel.
  void flush();
  // flush(), then waits until the destination has taken all but `slack`
  // bytes out of the socket (SIOCOUTQ: unread for unix sockets, unacknowledged
  // for TCP), or `timeout` passes. Files: flush() only. Returns the bytes
  // still queued.
  std::uint64_t drain(std::uint64_t timeout_ns, std::uint64_t slack = 64 * 1024);
  // From now on, no bandwidth cap. The cap protects the network while the
  // guest runs; once it is paused every millisecond is downtime (QEMU lifts
  // its max-bandwidth for the stop-and-copy phase too).
  void lift_cap() noexcept { pacer_ = Pacer(0); }
  std::uint64_t bytes_written() const noexcept { return accepted_; }
  std::uint64_t bytes_completed() const noexcept { return completed_; }
  const Destination& destination() const noexcept { return dest_; }

 private:
  struct Chunk {
    unsigned buffer;
    std::size_t offset;
    std::size_t length;
  };
  void seal_current();
  void pump();
  void submit(const Chunk& c);
  void reap_one();
  unsigned take_free_buffer();

  Destination dest_;
  TransportOptions options_;
  UniqueFd fd_;
  io_uring ring_{};
  bool ring_ok_ = false;
  std::vector<std::vector<std::uint8_t>> buffers_;
  std::vector<unsigned> free_;
  std::deque<Chunk> filled_;
  bool in_flight_ = false;
  Chunk flight_{};
  unsigned current_ = 0;
  std::size_t fill_ = 0;
  std::uint64_t accepted_ = 0, completed_ = 0, file_offset_ = 0;
  std::uint64_t last_progress_ns_ = 0;  // the last completion, or the submit before it
  Pacer pacer_;
};

}  // namespace dpdc
