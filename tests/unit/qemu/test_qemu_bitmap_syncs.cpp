// The calc-dirty-rate loop that keeps a ring-less QEMU re-protecting its
// pages, against a scripted QMP peer and a clock the test moves: what it
// asks QEMU, when, and what it leaves behind.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dpdc/error.h"
#include "dpdc/unique_fd.h"
#include "qemu/qemu_bitmap_syncs.h"

namespace dpdc {
namespace {

using nlohmann::json;

// A QMP peer on one end of a socketpair: greets, then answers every command
// with `answer` (a "return" value, or an {"error": ...} object), and keeps
// the commands it heard.
class ScriptedQemu {
 public:
  explicit ScriptedQemu(std::function<json(const json&)> answer) : answer_(std::move(answer)) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    client_fd_ = sv[0];
    server_fd_ = sv[1];
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedQemu() {
    ::shutdown(server_fd_, SHUT_RDWR);
    thread_.join();
    ::close(server_fd_);
  }
  UniqueFd client() { return UniqueFd(client_fd_); }
  std::vector<json> heard() {
    std::lock_guard lock(mu_);
    return heard_;
  }
  std::size_t count(const std::string& command) {
    std::size_t n = 0;
    for (const auto& c : heard()) n += c.value("execute", "") == command;
    return n;
  }

 private:
  void say(const json& j) {
    const std::string s = j.dump() + "\r\n";
    if (::write(server_fd_, s.data(), s.size()) != static_cast<ssize_t>(s.size())) return;
  }
  void serve() {
    say(json::parse(R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}})"));
    std::string line;
    char c;
    while (::read(server_fd_, &c, 1) == 1) {
      if (c != '\n') {
        line += c;
        continue;
      }
      const json req = json::parse(line);
      line.clear();
      if (req.value("execute", "") == "qmp_capabilities") {
        say({{"return", json::object()}, {"id", req["id"]}});
        continue;
      }
      {
        std::lock_guard lock(mu_);
        heard_.push_back(req);
      }
      json a = answer_(req);
      if (a.is_object() && a.contains("error")) {
        a["id"] = req["id"];
        say(a);
      } else {
        say({{"return", a}, {"id", req["id"]}});
      }
    }
  }
  std::function<json(const json&)> answer_;
  int client_fd_ = -1, server_fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> heard_;
};

// QEMU's dirty-rate measurement as a state the test sets.
struct Measurement {
  std::atomic<int> measuring_answers{0};  // query-dirty-rate says "measuring" this many more times
  json operator()(const json& req) {
    const std::string cmd = req.value("execute", "");
    if (cmd == "calc-dirty-rate") {
      measuring_answers = 1 << 30;  // until the test ends it
      return json::object();
    }
    if (cmd == "query-dirty-rate") {
      if (measuring_answers > 0) {
        --measuring_answers;
        return {{"status", "measuring"}};
      }
      return {{"status", "measured"}};
    }
    return json::object();
  }
};

std::uint64_t g_now = 0;
std::uint64_t now() { return g_now; }
constexpr std::uint64_t kSecond = 1'000'000'000;

TEST(QemuBitmapSyncs, RunsOneSecondMeasurementsInBitmapModeBackToBack) {
  g_now = 100 * kSecond;
  Measurement m;
  ScriptedQemu qemu([&](const json& r) { return m(r); });
  QmpClient qmp(qemu.client(), "scripted");
  QemuBitmapSyncs syncs(qmp, now);
  auto heard = qemu.heard();
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[0]["execute"], "query-dirty-rate");
  EXPECT_EQ(heard[1]["execute"], "calc-dirty-rate");
  EXPECT_EQ(heard[1]["arguments"], json({{"calc-time", 1}, {"mode", "dirty-bitmap"}}));
  EXPECT_EQ(syncs.runs_started(), 1u);

  // Within the run's second nothing is asked.
  g_now += kSecond / 2;
  syncs.tick();
  EXPECT_EQ(qemu.heard().size(), 2u);
  // After it, QEMU is asked; still measuring: no new run.
  g_now += kSecond / 2;
  m.measuring_answers = 1;
  syncs.tick();
  EXPECT_EQ(qemu.count("query-dirty-rate"), 2u);
  EXPECT_EQ(qemu.count("calc-dirty-rate"), 1u);
  // Once it is over, the next run starts at once.
  g_now += kSecond / 10;
  m.measuring_answers = 0;
  syncs.tick();
  EXPECT_EQ(qemu.count("calc-dirty-rate"), 2u);
  EXPECT_EQ(syncs.runs_started(), 2u);
  EXPECT_NEAR(syncs.runs_per_s(), 1 / 1.1, 1e-9);
  m.measuring_answers = 0;  // the run ends, so the destructor's wait does
}

TEST(QemuBitmapSyncs, WaitsForAMeasurementUnderWayBeforeItsFirstRun) {
  g_now = 0;
  Measurement m;
  m.measuring_answers = 3;
  ScriptedQemu qemu([&](const json& r) { return m(r); });
  QmpClient qmp(qemu.client(), "scripted");
  QemuBitmapSyncs syncs(qmp, now);
  EXPECT_EQ(qemu.count("query-dirty-rate"), 4u);
  EXPECT_EQ(qemu.count("calc-dirty-rate"), 1u);
  m.measuring_answers = 0;
}

TEST(QemuBitmapSyncs, AfterStopNoRunStarts) {
  g_now = 0;
  Measurement m;
  ScriptedQemu qemu([&](const json& r) { return m(r); });
  QmpClient qmp(qemu.client(), "scripted");
  QemuBitmapSyncs syncs(qmp, now);
  syncs.stop();
  g_now += 2 * kSecond;
  m.measuring_answers = 0;
  syncs.tick();
  g_now += 2 * kSecond;
  syncs.tick();
  EXPECT_EQ(qemu.count("calc-dirty-rate"), 1u) << "a run started after stop()";
}

// An engine that exits leaves logging as it found it: off, once its last run is over.
TEST(QemuBitmapSyncs, TheLastRunIsWaitedForOnTheWayOut) {
  g_now = 0;
  Measurement m;
  ScriptedQemu qemu([&](const json& r) { return m(r); });
  QmpClient qmp(qemu.client(), "scripted");
  {
    QemuBitmapSyncs syncs(qmp, now);
    m.measuring_answers = 2;  // measuring, measuring, then measured
  }
  EXPECT_EQ(m.measuring_answers.load(), 0);
  EXPECT_EQ(qemu.count("query-dirty-rate"), 1u + 3u);
  EXPECT_EQ(qemu.heard().back()["execute"], "query-dirty-rate");
}

// Before the switchover: the run under way ends, no other starts, and the
// way out has nothing left to wait for.
TEST(QemuBitmapSyncs, FinishEndsTheLoopBeforeTheSwitchover) {
  g_now = 0;
  Measurement m;
  ScriptedQemu qemu([&](const json& r) { return m(r); });
  QmpClient qmp(qemu.client(), "scripted");
  {
    QemuBitmapSyncs syncs(qmp, now);
    m.measuring_answers = 1;
    syncs.finish();
    EXPECT_EQ(m.measuring_answers.load(), 0);
    const auto asked = qemu.heard().size();
    g_now += 5 * kSecond;
    syncs.tick();
    EXPECT_EQ(qemu.heard().size(), asked) << "the loop went on after finish()";
  }
  EXPECT_EQ(qemu.count("calc-dirty-rate"), 1u);
  EXPECT_EQ(qemu.count("query-dirty-rate"), 1u + 2u) << "the destructor asked again";
}

TEST(QemuBitmapSyncs, AQemuWithoutBitmapModeIsAOneLineTargetError) {
  g_now = 0;
  ScriptedQemu qemu([](const json& r) -> json {
    if (r.value("execute", "") == "calc-dirty-rate") {
      return {{"error", {{"class", "GenericError"}, {"desc", "Parameter 'mode' is unexpected"}}}};
    }
    return {{"status", "unstarted"}};
  });
  QmpClient qmp(qemu.client(), "scripted");
  try {
    QemuBitmapSyncs syncs(qmp, now);
    FAIL() << "a QEMU that cannot measure in bitmap mode was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Target);
    const std::string what = e.what();
    EXPECT_NE(what.find("QEMU 7.1"), std::string::npos) << what;
    EXPECT_NE(what.find("mode"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(QemuBitmapSyncs, AQmpFailureDuringTheRoundsOnlyEndsTheLoop) {
  g_now = 0;
  std::atomic<bool> broken{false};
  Measurement m;
  ScriptedQemu qemu([&](const json& r) -> json {
    if (broken) return {{"error", {{"class", "GenericError"}, {"desc", "no"}}}};
    return m(r);
  });
  QmpClient qmp(qemu.client(), "scripted");
  QemuBitmapSyncs syncs(qmp, now);
  broken = true;
  g_now += 2 * kSecond;
  EXPECT_NO_THROW(syncs.tick());
  const auto asked = qemu.heard().size();
  g_now += 2 * kSecond;
  syncs.tick();
  EXPECT_EQ(qemu.heard().size(), asked) << "the loop goes on asking after a failure";
}

}  // namespace
}  // namespace dpdc
