// Throughput of the engine's send path against a plain sender, over loopback
// TCP, on an idle guest image whose pages are all non-zero.
//
//   PlainSender   send() of the raw RAM image in 1 MiB chunks: the ceiling.
//   EngineSender  the QEMU stream (header, configuration, ram setup, one PAGE
//                 record per page, END, EOF, vmdesc) written by StreamWriter
//                 into the io_uring Transport.
// The receiver drains the socket in both cases. Size: DPDC_BENCH_GIB (default 2).
// Compare the two bytes_per_second figures of one run; the machine is shared.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "live/transport.h"
#include "live/transport_sink.h"
#include "stream/destination.h"
#include "stream/stream_writer.h"

namespace {

constexpr std::size_t kPage = 4096;

std::size_t guest_bytes() {
  const char* g = std::getenv("DPDC_BENCH_GIB");
  return static_cast<std::size_t>(g ? std::atof(g) * 1024 : 2048) << 20;
}

// The guest image: every page non-zero (the page index, then a pattern).
const std::uint8_t* guest() {
  static const std::uint8_t* image = [] {
    std::size_t n = guest_bytes();
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) std::abort();
    auto* b = static_cast<std::uint8_t*>(p);
    for (std::size_t off = 0; off < n; off += kPage) {
      std::uint64_t idx = off / kPage;
      std::memcpy(b + off, &idx, sizeof idx);
      std::memset(b + off + 8, static_cast<int>(0x5a ^ (idx & 0xff)) | 1, kPage - 8);
    }
    return b;
  }();
  return image;
}

// A loopback listener whose accepted connection is drained by a thread.
class Drain {
 public:
  Drain() {
    ls_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(ls_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(ls_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(ls_, 1);
    thread_ = std::thread([this] {
      int c = ::accept(ls_, nullptr, nullptr);
      std::vector<char> buf(1 << 20);
      for (ssize_t n; (n = ::read(c, buf.data(), buf.size())) > 0;) received_ += static_cast<std::size_t>(n);
      ::close(c);
    });
  }
  std::size_t finish() {
    thread_.join();
    ::close(ls_);
    return received_;
  }
  std::uint16_t port() const { return port_; }

 private:
  int ls_ = -1;
  std::uint16_t port_ = 0;
  std::size_t received_ = 0;
  std::thread thread_;
};

void PlainSender(benchmark::State& state) {
  const std::uint8_t* ram = guest();
  const std::size_t n = guest_bytes();
  for (auto _ : state) {
    Drain drain;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(drain.port());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) state.SkipWithError("connect");
    for (std::size_t off = 0; off < n;) {
      ssize_t w = ::send(fd, ram + off, std::min<std::size_t>(1 << 20, n - off), MSG_NOSIGNAL);
      if (w <= 0) {
        state.SkipWithError("send");
        break;
      }
      off += static_cast<std::size_t>(w);
    }
    ::close(fd);
    if (drain.finish() != n) state.SkipWithError("short read");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

void EngineSender(benchmark::State& state) {
  using namespace dpdc;
  const std::uint8_t* ram = guest();
  const std::size_t n = guest_bytes();
  std::size_t wire = 0;
  for (auto _ : state) {
    Drain drain;
    {
      Transport t(Destination::parse("tcp:127.0.0.1:" + std::to_string(drain.port())));
      TransportSink sink(t);
      stream::StreamWriter w(sink);
      w.header();
      w.configuration("dpdc-vm");
      w.ram_setup({{"dpdc.ram", n, std::nullopt}});
      w.ram_begin_iteration();
      for (std::size_t off = 0; off < n; off += kPage) w.ram_page(0, off, {ram + off, kPage});
      w.ram_end_iteration();
      w.ram_begin_final();
      w.ram_end_iteration();
      w.eof_and_vmdesc();
      t.flush();
      wire = t.bytes_completed();
    }
    if (drain.finish() != wire) state.SkipWithError("short read");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));  // guest bytes, as the plain sender
  state.counters["wire_bytes"] = static_cast<double>(wire);
}

BENCHMARK(PlainSender)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(EngineSender)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
