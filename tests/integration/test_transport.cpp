// The io_uring transport against real files and sockets: every byte arrives
// in order, short writes and slow readers included; failures are named.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "dpdc/error.h"
#include "live/transport.h"
#include "loopback.h"
#include "temp_dir.h"

namespace dpdc {
namespace {

std::vector<std::uint8_t> pattern(std::size_t n, unsigned seed) {
  std::vector<std::uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

// Writes `data` in uneven pieces, as the stream writer does.
void send_in_pieces(Transport& t, const std::vector<std::uint8_t>& data) {
  std::size_t off = 0, step = 1;
  while (off < data.size()) {
    std::size_t n = std::min(step, data.size() - off);
    t.write({data.data() + off, n});
    off += n;
    step = step * 7 % 100'003 + 1;
  }
  t.flush();
  EXPECT_EQ(t.bytes_written(), data.size());
  EXPECT_EQ(t.bytes_completed(), data.size());
}

std::vector<std::uint8_t> read_all(int fd, bool slow) {
  std::vector<std::uint8_t> out;
  std::uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, slow ? 4096 : sizeof buf);
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
    if (slow && out.size() % (1 << 20) < 4096) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return out;
}

using test::TempDir;

// A listening unix socket at `path`, or -1.
int listen_unix(const std::string& path) {
  int ls = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  if (::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(ls, 1) != 0) {
    ::close(ls);
    return -1;
  }
  return ls;
}

TEST(Transport, FileGetsEveryByte) {
  TempDir dir;
  auto data = pattern(5 * (1 << 20) + 12345, 1);
  {
    TransportOptions o;
    o.buffer_bytes = 256 * 1024;
    Transport t(Destination::parse("file:" + (dir / "out.mig")), o);
    send_in_pieces(t, data);
  }
  std::ifstream in(dir / "out.mig", std::ios::binary);
  std::vector<std::uint8_t> got((std::istreambuf_iterator<char>(in)), {});
  EXPECT_TRUE(got == data);
}

TEST(Transport, UnixSocketWithSlowReaderGetsEveryByteInOrder) {
  TempDir dir;
  std::string path = dir / "s.sock";
  int ls = listen_unix(path);
  ASSERT_GE(ls, 0) << std::strerror(errno);
  auto data = pattern(8 * (1 << 20), 2);
  std::vector<std::uint8_t> got;
  std::thread reader([&] {
    int c = ::accept(ls, nullptr, nullptr);
    got = read_all(c, true);
    ::close(c);
  });
  {
    Transport t(Destination::parse("unix:" + path));
    send_in_pieces(t, data);
  }
  reader.join();
  ::close(ls);
  EXPECT_TRUE(got == data);
}

TEST(Transport, TcpLoopbackGetsEveryByte) {
  test::LoopbackListener listener;
  ASSERT_NE(listener.port(), 0);
  const int ls = listener.fd();
  auto data = pattern(16 * (1 << 20) + 7, 3);
  std::vector<std::uint8_t> got;
  std::thread reader([&] {
    int c = ::accept(ls, nullptr, nullptr);
    got = read_all(c, false);
    ::close(c);
  });
  {
    Transport t(Destination::parse("tcp:127.0.0.1:" + std::to_string(listener.port())));
    send_in_pieces(t, data);
  }
  reader.join();
  EXPECT_TRUE(got == data);
}

TEST(Transport, RefusedConnectionIsNamed) {
  TempDir dir;
  try {
    Transport t(Destination::parse("unix:" + (dir / "nobody.sock")));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect to unix:"), std::string::npos) << e.what();
  }
}

TEST(Transport, DestinationThatGoesAwayIsReported) {
  TempDir dir;
  std::string path = dir / "s.sock";
  int ls = listen_unix(path);
  ASSERT_GE(ls, 0) << std::strerror(errno);
  std::thread closer([&] {
    int c = ::accept(ls, nullptr, nullptr);
    std::uint8_t buf[4096];
    (void)::read(c, buf, sizeof buf);
    ::close(c);
  });
  auto data = pattern(32 * (1 << 20), 4);
  try {
    Transport t(Destination::parse("unix:" + path));
    t.write(data);
    t.flush();
    ADD_FAILURE() << "32 MiB went to a peer that closed after 4 KiB";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("closed the connection"), std::string::npos) << e.what();
  }
  closer.join();
  ::close(ls);
}

}  // namespace
}  // namespace dpdc
