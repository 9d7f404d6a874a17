#include <gtest/gtest.h>

#include "dpdc/error.h"
#include "live/pacer.h"
#include "stream/destination.h"

namespace dpdc {
namespace {

TEST(Destination, ParsesQemuUris) {
  auto t = Destination::parse("tcp:127.0.0.1:4444");
  EXPECT_EQ(t.kind, Destination::Kind::Tcp);
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 4444);
  auto v6 = Destination::parse("tcp:[::1]:5000");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 5000);
  auto u = Destination::parse("unix:/tmp/mig.sock");
  EXPECT_EQ(u.kind, Destination::Kind::Unix);
  EXPECT_EQ(u.path, "/tmp/mig.sock");
  auto f = Destination::parse("file:/tmp/x.mig");
  EXPECT_EQ(f.kind, Destination::Kind::File);
  EXPECT_EQ(f.path, "/tmp/x.mig");
}

TEST(Destination, RejectsBadUris) {
  for (const char* bad : {"tcp:host", "tcp::4444", "tcp:h:0", "tcp:h:70000", "tcp:h:12x", "unix:", "file:", "exec:cat",
                          "/tmp/file", ""}) {
    try {
      Destination::parse(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage) << bad;
      EXPECT_NE(std::string(e.what()).find("tcp:HOST:PORT"), std::string::npos) << e.what();
    }
  }
}

TEST(Pacer, NoCapNeverWaits) {
  Pacer p;
  p.start(0);
  EXPECT_EQ(p.reserve(1 << 30, 0), 0u);
}

TEST(Pacer, SchedulesChunksAtTheRate) {
  Pacer p(1e6);  // 1 MB/s
  p.start(1'000'000'000);
  EXPECT_EQ(p.reserve(500'000, 1'000'000'000), 0u);          // first chunk goes at once
  EXPECT_EQ(p.reserve(500'000, 1'000'000'000), 500'000'000u); // second waits 0.5 s
  EXPECT_EQ(p.reserve(500'000, 1'600'000'000), 400'000'000u); // third is due at 2.0 s
  EXPECT_EQ(p.reserve(500'000, 3'000'000'000), 0u);          // late: no wait
}

TEST(Pacer, IdleTimeEarnsNoBurst) {
  Pacer p(1e6);  // 1 MB/s
  p.start(0);
  // Nothing sent for 10 s, then three chunks: the rate holds from the first.
  EXPECT_EQ(p.reserve(500'000, 10'000'000'000), 0u);
  EXPECT_EQ(p.reserve(500'000, 10'000'000'000), 500'000'000u);
  EXPECT_EQ(p.reserve(500'000, 10'000'000'000), 1'000'000'000u);
}

TEST(Pacer, AverageRateNeverExceedsTheCap) {
  Pacer p(10e6);
  std::uint64_t now = 0, bytes = 0;
  p.start(now);
  for (int i = 0; i < 100; ++i) {
    now += p.reserve(1 << 20, now);
    bytes += 1 << 20;
    // Everything before this chunk fits the rate by the time it starts.
    EXPECT_GE(static_cast<double>(now) / 1e9 + 1e-9, static_cast<double>(bytes - (1 << 20)) / 10e6);
  }
}

}  // namespace
}  // namespace dpdc
