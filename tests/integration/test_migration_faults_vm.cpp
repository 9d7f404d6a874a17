// Faults during a live migration between two dpdc-vm processes, at each
// phase (round 1, between rounds, after the stop, during the device state,
// after the end of the stream): the destination killed, the link cut or
// stalled, the engine sent SIGTERM or SIGKILL, the source VMM killed. After
// each, what a user checks: the engine failed with one line, the source
// guest runs (or was never lost), the destination never resumed from the
// incomplete stream, nothing of the engine stays pinned or running, and a
// second migration of the same guest arrives byte for byte and passes the
// ab check. docs/faults.md has the table.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "ab_check.h"
#include "facilities.h"
#include "relay.h"
#include "stop_watcher.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "vm_process.h"

namespace dpdc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using test::VmProcess;

const std::vector<std::string> kMachine = {"-m", "32M", "-smp", "1", "-accel", "kvm,dirty-ring-size=4096"};

// A source running the ab workload, the engine's pin directory for it.
struct Source {
  test::TempDir dir;
  VmProcess vm{dir, "src", [] {
                 auto a = kMachine;
                 a.insert(a.end(), {"--workload", "ab"});
                 return a;
               }()};
  fs::path pins() const { return fs::path("/sys/fs/bpf/dpdc") / std::to_string(vm.pid()); }
};

std::unique_ptr<VmProcess> destination(const test::TempDir& dir, const std::string& name, const std::string& uri) {
  auto a = kMachine;
  a.insert(a.end(), {"-incoming", uri, "-S"});
  return std::make_unique<VmProcess>(dir, name, a);
}

// A downtime limit of 2 s lets the policy stop after round 1 (the ab guest
// never converges): every fault here is about phases, not about rounds.
// One of 1 ms keeps it sending rounds until a fault ends the migration.
std::vector<std::string> engine_argv(const Source& src, const std::string& uri, const std::string& bandwidth,
                                     const std::string& downtime_ms = "2000") {
  std::vector<std::string> cmd = {test::bin("dpdc-engine"), "attach", "--pid", std::to_string(src.vm.pid()),
                                  "--to", uri, "--policy", "dpdc", "--downtime-limit", downtime_ms,
                                  "--json", "--progress", "json"};
  if (!bandwidth.empty()) cmd.insert(cmd.end(), {"--max-bandwidth", bandwidth});
  return cmd;
}

// The destination did not run a guest from what it got: it refused the
// stream and exited non-zero, or still waits for the rest.
void expect_not_resumed(VmProcess& dst) {
  if (auto code = dst.process().wait(0ms)) {
    EXPECT_NE(*code, 0) << "a destination exited 0 from an incomplete stream: " << dst.process().err();
    return;
  }
  EXPECT_EQ(dst.status(), "inmigrate") << "the destination left inmigrate from an incomplete stream";
}

// The same, once the destination had up to 5 s to see its link end (a
// destination that refuses the stream exits then).
void expect_not_resumed_once_its_link_ended(VmProcess& dst) {
  for (int i = 0; i < 100 && !dst.process().wait(0ms); ++i) std::this_thread::sleep_for(50ms);
  expect_not_resumed(dst);
}

// The source guest runs: its status says so and its memory changes.
void expect_running(VmProcess& src) {
  ASSERT_EQ(src.status(), "running");
  const auto before = src.ram();
  std::this_thread::sleep_for(500ms);
  EXPECT_NE(src.ram(), before) << "the source says running but its guest writes nothing";
}

// The engine failed with one line that names the trouble.
void expect_one_line_failure(test::Child& engine, std::optional<int> code) {
  ASSERT_TRUE(code.has_value()) << "the engine did not exit";
  EXPECT_NE(*code, 0);
  std::string err = engine.err();
  while (!err.empty() && err.back() == '\n') err.pop_back();
  EXPECT_FALSE(err.empty()) << "the engine failed without a word";
  const std::string last = err.substr(err.rfind('\n') + 1);
  EXPECT_EQ(last.rfind("dpdc-engine: ", 0), 0u) << err;
  ::testing::Test::RecordProperty("engine_error", last);
  std::cerr << "[ engine   ] " << last << "\n";
}

// Migrates `src` again, unhindered, and checks the destination byte for
// byte and with the ab rule; then nothing of either engine stays pinned.
void second_migration_arrives_whole(Source& src) {
  const std::string uri = "unix:" + (src.dir / "again.sock");
  auto dst = destination(src.dir, "again", uri);
  auto r = test::run(engine_argv(src, uri, ""), {}, 300s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(src.vm.status(), "postmigrate");
  for (int i = 0; i < 600 && dst->status() == "inmigrate"; ++i) std::this_thread::sleep_for(100ms);
  const auto a = src.vm.ram(), b = dst->ram();
  ASSERT_EQ(a.size(), b.size());
  std::size_t diff = 0;
  while (diff < a.size() && a[diff] == b[diff]) ++diff;
  EXPECT_EQ(diff, a.size()) << "the second migration differs at byte " << diff;
  json area = dst->workload_area();
  test::expect_ab_consistent(b, area["first-page"], area["pages"]);
  EXPECT_FALSE(fs::exists(src.pins())) << src.pins() << " stays pinned";
}

enum class Phase { RoundOne, BetweenRounds, AfterTheStop, DuringTheDeviceState };

// Whether the engine's --progress json lines so far show a part of its last
// round all handed to the stream.
bool last_round_sent(const std::string& err) {
  std::size_t at = 0;
  for (std::size_t nl; (nl = err.find('\n', at)) != std::string::npos; at = nl + 1) {
    const auto j = json::parse(err.substr(at, nl - at), nullptr, false);
    if (j.is_object() && j.value("type", "") == "progress" && j.value("final", false) &&
        j.value("done", 0u) == j.value("total", 1u)) {
      return true;
    }
  }
  return false;
}

// Runs the engine through a relay at 20 MB/s (round 1 of 32 MiB takes
// about 1.7 s), brings the phase about, applies `fault`, and returns the
// engine's exit. In round 1 the fault comes once 2 MiB went through;
// between rounds, the moment the engine says round 2 begins (its pages are
// planned, none sent); after the stop, the relay stalls at STOP so that the
// last round is still on its way when the fault comes (the stream's end
// cannot have reached the destination). During the device state: the relay
// stalls at STOP, the source VMM is frozen (SIGSTOP) while the engine is
// held in its last round, the relay reads on, and once the engine says its
// last round is all sent it waits for the frozen VMM's device state; the
// fault comes then, and the VMM is thawed (SIGCONT) after it.
struct FaultRun {
  Source src;
  std::unique_ptr<VmProcess> dst;
  std::unique_ptr<test::Relay> relay;
  std::unique_ptr<test::Child> engine;
  std::optional<int> code;

  void start(const std::string& downtime_ms = "2000") {
    const std::string dst_uri = "unix:" + (src.dir / "dst.sock");
    dst = destination(src.dir, "dst", dst_uri);
    relay = std::make_unique<test::Relay>(src.dir / "relay.sock", src.dir / "dst.sock");
    std::this_thread::sleep_for(300ms);  // the guest writes for a while first
    auto argv = engine_argv(src, relay->uri(), "20", downtime_ms);
    argv.insert(argv.end(), {"--stall-timeout", "10"});
    engine = std::make_unique<test::Child>(argv);
  }
  // Round 1: `fault` once 2 MiB went through. After the stop: `at_stop`
  // the moment the VMM announces it, then `fault` 300 ms later.
  void at(Phase phase, const std::function<void()>& fault, const std::function<void()>& at_stop = {}) {
    if (phase == Phase::RoundOne) {
      for (int i = 0; i < 3000 && relay->forwarded() < (2u << 20); ++i) std::this_thread::sleep_for(10ms);
      ASSERT_GE(relay->forwarded(), 2u << 20) << "round 1 never began: " << engine->err();
      ASSERT_EQ(src.vm.status(), "running") << "round 1 is over already";
      fault();
    } else if (phase == Phase::BetweenRounds) {
      const bool begun = engine->wait_for_err(
          [](const std::string& err) { return err.find("\"round\":2,") != std::string::npos; }, 60s);
      ASSERT_TRUE(begun) << "round 2 never began: " << engine->err();
      ASSERT_EQ(src.vm.status(), "running") << "the engine stopped the guest instead of sending round 2";
      fault();
    } else if (phase == Phase::DuringTheDeviceState) {
      during_the_device_state(fault);
      return;
    } else {
      std::atomic<bool> stopped{false};
      {
        test::StopWatcher w(src.dir / "src.qmp", [&] {
          if (at_stop) at_stop();
          stopped = true;
        });
        for (int i = 0; i < 12000 && !stopped; ++i) std::this_thread::sleep_for(10ms);
      }
      ASSERT_TRUE(stopped) << "the engine never stopped the guest: " << engine->err();
      std::this_thread::sleep_for(300ms);
      fault();
    }
    code = engine->wait(120s);
  }
  void during_the_device_state(const std::function<void()>& fault) {
    std::atomic<bool> stopped{false};
    {
      test::StopWatcher w(src.dir / "src.qmp", [&] {
        relay->stall();
        stopped = true;
      });
      for (int i = 0; i < 12000 && !stopped; ++i) std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(stopped) << "the engine never stopped the guest: " << engine->err();
    std::this_thread::sleep_for(300ms);  // the engine has its reply and is held in the last round
    ASSERT_FALSE(engine->wait(0ms).has_value()) << "the last round went through a stalled link: " << engine->err();
    ::kill(src.vm.pid(), SIGSTOP);
    relay->resume();
    // The last round may come in two parts (the pages known at the stop,
    // then those found after it), each ending with done == total: the
    // engine is at the device state once such a line is its last for a
    // while (it cannot get further without the frozen VMM).
    bool sent = false;
    for (int i = 0; i < 60 && !sent; ++i) {
      if (!engine->wait_for_err(last_round_sent, 30s)) break;
      const std::size_t seen = engine->err().size();
      engine->wait_for_err([seen](const std::string& err) { return err.size() != seen; }, 500ms);
      sent = engine->err().size() == seen;
    }
    if (!sent || engine->wait(0ms).has_value()) {
      ::kill(src.vm.pid(), SIGCONT);
      FAIL() << "the engine never reached the device state: " << engine->err();
    }
    fault();
    ::kill(src.vm.pid(), SIGCONT);  // a killed VMM stays killed
    code = engine->wait(120s);
  }
  // After the stop, with the link stalled: the last round is on its way
  // and the stream's end cannot reach the destination.
  void stalled_after_the_stop(const std::function<void()>& fault) {
    at(Phase::AfterTheStop, [&] {
      ASSERT_FALSE(engine->wait(0ms).has_value()) << "the engine finished through a stalled link: " << engine->err();
      fault();
    }, [&] { relay->stall(); });
  }
};

class MigrationFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    DPDC_REQUIRE(kvm);
    DPDC_REQUIRE(bpf);
  }
};

TEST_F(MigrationFaults, DestinationKilledInRoundOne) {
  FaultRun r;
  r.start();
  r.at(Phase::RoundOne, [&] { r.dst->process().signal(SIGKILL); });
  expect_one_line_failure(*r.engine, r.code);
  expect_running(r.src.vm);
  second_migration_arrives_whole(r.src);
}

TEST_F(MigrationFaults, LinkCutInRoundOne) {
  FaultRun r;
  r.start();
  r.at(Phase::RoundOne, [&] { r.relay->cut(); });
  expect_one_line_failure(*r.engine, r.code);
  expect_running(r.src.vm);
  expect_not_resumed_once_its_link_ended(*r.dst);
  second_migration_arrives_whole(r.src);
}

TEST_F(MigrationFaults, EngineSigtermInRoundOne) {
  FaultRun r;
  r.start();
  r.at(Phase::RoundOne, [&] { r.engine->signal(SIGTERM); });
  expect_one_line_failure(*r.engine, r.code);
  expect_running(r.src.vm);
  EXPECT_FALSE(fs::exists(r.src.pins())) << "a SIGTERMed engine left its pins";
  expect_not_resumed(*r.dst);
  second_migration_arrives_whole(r.src);
}

TEST_F(MigrationFaults, EngineSigkillInRoundOne) {
  FaultRun r;
  r.start();
  r.at(Phase::RoundOne, [&] { r.engine->signal(SIGKILL); });
  ASSERT_EQ(r.code, 128 + SIGKILL);
  expect_running(r.src.vm);
  expect_not_resumed(*r.dst);
  second_migration_arrives_whole(r.src);  // which also sweeps the killed engine's pins
}

TEST_F(MigrationFaults, SourceKilledInRoundOne) {
  FaultRun r;
  r.start();
  r.at(Phase::RoundOne, [&] { r.src.vm.process().signal(SIGKILL); });
  expect_one_line_failure(*r.engine, r.code);
  EXPECT_EQ(r.code.value_or(-1), 3) << "exit 3: the target process is unusable";
  EXPECT_NE(r.engine->err().find("(pid " + std::to_string(r.src.vm.pid()) + ") is gone"), std::string::npos)
      << r.engine->err();
  expect_not_resumed_once_its_link_ended(*r.dst);
  EXPECT_FALSE(fs::exists(r.src.pins())) << "the engine left its pins for a VMM that is gone";
}

TEST_F(MigrationFaults, DestinationKilledAfterTheStop) {
  FaultRun r;
  r.start();
  r.at(Phase::AfterTheStop, [] {}, [&] { r.dst->process().signal(SIGKILL); });
  expect_one_line_failure(*r.engine, r.code);
  expect_running(r.src.vm);
  second_migration_arrives_whole(r.src);
}

TEST_F(MigrationFaults, LinkStalledAfterTheStopTimesOutAndResumesTheSource) {
  FaultRun r;
  r.start();
  r.stalled_after_the_stop([] {});
  expect_one_line_failure(*r.engine, r.code);
  EXPECT_NE(r.engine->err().find("took no data for 10 s"), std::string::npos) << r.engine->err();
  expect_running(r.src.vm);
  r.relay->cut();
  expect_not_resumed_once_its_link_ended(*r.dst);
  second_migration_arrives_whole(r.src);
}

TEST_F(MigrationFaults, EngineSigtermAfterTheStopResumesTheSource) {
  FaultRun r;
  r.start();
  r.stalled_after_the_stop([&] { r.engine->signal(SIGTERM); });
  expect_one_line_failure(*r.engine, r.code);
  EXPECT_EQ(r.code, 130);
  expect_running(r.src.vm);
  r.relay->cut();
  expect_not_resumed_once_its_link_ended(*r.dst);
  second_migration_arrives_whole(r.src);
}

// The engine cannot resume anything once killed: dpdc-vm does, because the
// client that paused it for the migration went away before completing it.
TEST_F(MigrationFaults, EngineSigkillAfterTheStopTheSourceResumesItself) {
  FaultRun r;
  r.start();
  r.stalled_after_the_stop([&] { r.engine->signal(SIGKILL); });
  ASSERT_EQ(r.code, 128 + SIGKILL);
  for (int i = 0; i < 100 && r.src.vm.status() != "running"; ++i) std::this_thread::sleep_for(50ms);
  expect_running(r.src.vm);
  r.relay->cut();  // what the engine sent before it died goes on: still no end of stream
  expect_not_resumed_once_its_link_ended(*r.dst);
  second_migration_arrives_whole(r.src);
}

// Between rounds: the engine has read the dirty history of round 1 and
// planned round 2 with the guest running.

TEST_F(MigrationFaults, DestinationKilledBetweenRounds) {
  FaultRun r;
  r.start("1");
  r.at(Phase::BetweenRounds, [&] { r.dst->process().signal(SIGKILL); });
  expect_one_line_failure(*r.engine, r.code);
  expect_running(r.src.vm);
  EXPECT_FALSE(fs::exists(r.src.pins())) << "a failed engine left its pins";
  second_migration_arrives_whole(r.src);
}

TEST_F(MigrationFaults, EngineSigtermBetweenRounds) {
  FaultRun r;
  r.start("1");
  r.at(Phase::BetweenRounds, [&] { r.engine->signal(SIGTERM); });
  expect_one_line_failure(*r.engine, r.code);
  EXPECT_EQ(r.code, 130);
  expect_running(r.src.vm);
  EXPECT_FALSE(fs::exists(r.src.pins())) << "a SIGTERMed engine left its pins";
  expect_not_resumed(*r.dst);
  second_migration_arrives_whole(r.src);
}

TEST_F(MigrationFaults, SourceKilledBetweenRounds) {
  FaultRun r;
  r.start("1");
  r.at(Phase::BetweenRounds, [&] { r.src.vm.process().signal(SIGKILL); });
  expect_one_line_failure(*r.engine, r.code);
  EXPECT_EQ(r.code.value_or(-1), 3) << "exit 3: the target process is unusable";
  // Noticed while sending rounds, not only when the stop finds nobody.
  EXPECT_NE(r.engine->err().find("exited during the pre-copy rounds"), std::string::npos) << r.engine->err();
  EXPECT_NE(r.engine->err().find("(pid " + std::to_string(r.src.vm.pid()) + ") is gone"), std::string::npos)
      << r.engine->err();
  expect_not_resumed_once_its_link_ended(*r.dst);
  EXPECT_FALSE(fs::exists(r.src.pins())) << "the engine left its pins for a VMM that is gone";
}

// During the device state: the guest is paused, its last round is in the
// stream, and the engine waits for the source VMM's device state.

TEST_F(MigrationFaults, DestinationKilledDuringTheDeviceStateResumesTheSource) {
  FaultRun r;
  r.start();
  r.at(Phase::DuringTheDeviceState, [&] { r.dst->process().signal(SIGKILL); });
  expect_one_line_failure(*r.engine, r.code);
  EXPECT_NE(r.engine->err().find("the source guest runs again"), std::string::npos) << r.engine->err();
  expect_running(r.src.vm);
  second_migration_arrives_whole(r.src);
}

// Ctrl-C before the source is told the migration is complete still means
// "keep the source": nothing is completed after it.
TEST_F(MigrationFaults, EngineSigtermDuringTheDeviceStateResumesTheSource) {
  FaultRun r;
  r.start();
  r.at(Phase::DuringTheDeviceState, [&] { r.engine->signal(SIGTERM); });
  expect_one_line_failure(*r.engine, r.code);
  EXPECT_EQ(r.code, 130);
  expect_running(r.src.vm);
  EXPECT_FALSE(fs::exists(r.src.pins())) << "a SIGTERMed engine left its pins";
  r.relay->cut();
  expect_not_resumed_once_its_link_ended(*r.dst);
  second_migration_arrives_whole(r.src);
}

TEST_F(MigrationFaults, EngineSigkillDuringTheDeviceStateTheSourceResumesItself) {
  FaultRun r;
  r.start();
  r.at(Phase::DuringTheDeviceState, [&] { r.engine->signal(SIGKILL); });
  ASSERT_EQ(r.code, 128 + SIGKILL);
  for (int i = 0; i < 100 && r.src.vm.status() != "running"; ++i) std::this_thread::sleep_for(50ms);
  expect_running(r.src.vm);
  r.relay->cut();
  expect_not_resumed_once_its_link_ended(*r.dst);
  second_migration_arrives_whole(r.src);
}

TEST_F(MigrationFaults, SourceKilledDuringTheDeviceState) {
  FaultRun r;
  r.start();
  r.at(Phase::DuringTheDeviceState, [&] { r.src.vm.process().signal(SIGKILL); });
  expect_one_line_failure(*r.engine, r.code);
  EXPECT_EQ(r.code.value_or(-1), 3) << "exit 3: the target process is unusable";
  EXPECT_NE(r.engine->err().find("(pid " + std::to_string(r.src.vm.pid()) + ") is gone"), std::string::npos)
      << r.engine->err();
  r.relay->cut();
  expect_not_resumed_once_its_link_ended(*r.dst);
  EXPECT_FALSE(fs::exists(r.src.pins())) << "the engine left its pins for a VMM that is gone";
}

// After the end of the stream the destination runs the guest; the source
// keeps it, paused and whole, in postmigrate (as after QEMU's own
// migration). A destination that dies then loses nothing the user cannot
// get back: `cont` on the source.
TEST_F(MigrationFaults, DestinationKilledAfterTheEndTheSourceStillHoldsTheGuest) {
  FaultRun r;
  r.start();
  r.code = r.engine->wait(120s);
  ASSERT_EQ(r.code, 0) << r.engine->err();
  for (int i = 0; i < 600 && r.dst->status() == "inmigrate"; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(r.dst->status(), "paused") << "the destination did not load the whole stream";  // -S
  r.dst->qmp().execute("cont");
  ASSERT_EQ(r.dst->status(), "running");
  r.dst->process().signal(SIGKILL);
  EXPECT_EQ(r.src.vm.status(), "postmigrate");
  r.src.vm.qmp().execute("cont");
  expect_running(r.src.vm);
  second_migration_arrives_whole(r.src);
}

}  // namespace
}  // namespace dpdc
