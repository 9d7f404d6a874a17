// The QMP client against a scripted server on a real unix socket: greeting,
// negotiation, events interleaved with replies, errors, and a silent peer.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "dpdc/error.h"
#include "qemu/qmp_client.h"

namespace dpdc {
namespace {

using nlohmann::json;

class FakeQmp {
 public:
  // `serve` gets the connected fd and a line reader.
  explicit FakeQmp(std::function<void(int)> serve) {
    char tmpl[] = "/tmp/dpdc-qmp-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/qmp.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 1), 0);
    thread_ = std::thread([this, serve] {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) {
        serve(fd);
        ::close(fd);
      }
    });
  }
  ~FakeQmp() {
    thread_.join();
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

  static void say(int fd, const std::string& s) { ASSERT_EQ(::write(fd, s.data(), s.size()), (ssize_t)s.size()); }
  static json hear(int fd) {
    std::string line;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    return line.empty() ? json() : json::parse(line);
  }

 private:
  std::string dir_, path_;
  int listen_fd_ = -1;
  std::thread thread_;
};

const char* kGreeting = R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}})"
                        "\r\n";

TEST(QmpClient, NegotiatesAndRunsCommandsAcrossEvents) {
  FakeQmp server([](int fd) {
    FakeQmp::say(fd, kGreeting);
    json req = FakeQmp::hear(fd);
    EXPECT_EQ(req["execute"], "qmp_capabilities");
    FakeQmp::say(fd, json({{"return", json::object()}, {"id", req["id"]}}).dump() + "\r\n");
    req = FakeQmp::hear(fd);
    EXPECT_EQ(req["execute"], "query-status");
    // An event arrives before the reply, and the reply comes in two pieces.
    FakeQmp::say(fd, R"({"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}})" "\r\n");
    std::string reply = json({{"return", {{"status", "running"}, {"running", true}}}, {"id", req["id"]}}).dump();
    FakeQmp::say(fd, reply.substr(0, 10));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    FakeQmp::say(fd, reply.substr(10) + "\r\n");
    req = FakeQmp::hear(fd);
    EXPECT_EQ(req["execute"], "stop");
    EXPECT_EQ(req["arguments"]["why"], "test");
    FakeQmp::say(fd, json({{"error", {{"class", "GenericError"}, {"desc", "cannot stop now"}}}, {"id", req["id"]}})
                         .dump() +
                         "\r\n");
  });
  QmpClient qmp(server.path());
  EXPECT_EQ(qmp.greeting()["QMP"]["version"]["qemu"]["major"], 7);
  json status = qmp.execute("query-status");
  EXPECT_EQ(status["status"], "running");
  ASSERT_EQ(qmp.events().size(), 1u);
  EXPECT_EQ(qmp.events().front()["event"], "RESUME");
  try {
    qmp.execute("stop", {{"why", "test"}});
    FAIL() << "an error reply must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot stop now"), std::string::npos) << e.what();
  }
}

TEST(QmpClient, NotAQmpServer) {
  FakeQmp server([](int fd) { FakeQmp::say(fd, "{\"hello\": 1}\n"); });
  EXPECT_THROW(QmpClient(server.path()), Error);
}

TEST(QmpClient, AHostileReplyIsAnErrorNotACrash) {
  // A reply nested 100,000 deep used to overflow the engine's stack.
  for (const std::string& reply : {std::string(100000, '[') + std::string(100000, ']'), std::string("{\"return\": 4e3000}")}) {
    FakeQmp server([&](int fd) {
      FakeQmp::say(fd, kGreeting);
      FakeQmp::hear(fd);
      FakeQmp::say(fd, reply + "\n");
    });
    try {
      QmpClient qmp(server.path());
      FAIL() << "negotiated with a hostile reply";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Target);
      EXPECT_NE(std::string(e.what()).find("sent invalid JSON"), std::string::npos) << e.what();
    }
  }
}

// Found with fuzz/qmp_client_fuzz (inputs in fuzz/corpus/qmp_client): an
// error reply whose "error" is no object, or whose desc is no string, threw
// the JSON library's type_error past the client instead of its Error.
TEST(QmpClient, AnErrorReplyOfAnyShapeIsAnError) {
  for (const std::string& error : {std::string(R"("x")"), std::string(R"({"desc": 7})"), std::string("[]")}) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    UniqueFd server(fds[1]);
    FakeQmp::say(server.get(), "{\"QMP\": {}}\n{\"error\": " + error + ", \"id\": 1}\n");
    try {
      QmpClient qmp(UniqueFd(fds[0]), "peer");
      ADD_FAILURE() << "negotiated over an error reply";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("qmp_capabilities failed"), std::string::npos) << e.what();
    }
  }
}

TEST(QmpClient, SilentPeerTimesOut) {
  FakeQmp server([](int) { std::this_thread::sleep_for(std::chrono::milliseconds(400)); });
  try {
    QmpClient qmp(server.path(), std::chrono::milliseconds(100));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did not answer"), std::string::npos) << e.what();
  }
}

TEST(QmpClient, NoSocketSaysHowToStartTheVmm) {
  try {
    QmpClient qmp("/nonexistent/dpdc/qmp.sock");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Target);
    EXPECT_NE(std::string(e.what()).find("-qmp unix:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dpdc
