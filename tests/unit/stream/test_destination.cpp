#include <gtest/gtest.h>

#include "dpdc/error.h"
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

}  // namespace
}  // namespace dpdc
