// Faults during a live migration between two dpdc-vm processes, at each
// phase (round 1, after the stop): the destination killed, the link cut or
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
std::vector<std::string> engine_argv(const Source& src, const std::string& uri, const std::string& bandwidth) {
  std::vector<std::string> cmd = {test::bin("dpdc-engine"), "attach", "--pid", std::to_string(src.vm.pid()),
                                  "--to",  uri, "--policy", "dpdc", "--downtime-limit", "2000", "--json"};
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

enum class Phase { RoundOne, AfterTheStop };

// Runs the engine through a relay at 20 MB/s (round 1 of 32 MiB takes
// about 1.7 s), brings the phase about, applies `fault`, and returns the
// engine's exit. In round 1 the fault comes once 2 MiB went through; after
// the stop, the relay stalls at STOP so that the last round is still on its
// way when the fault comes (the stream's end cannot have reached the
// destination).
struct FaultRun {
  Source src;
  std::unique_ptr<VmProcess> dst;
  std::unique_ptr<test::Relay> relay;
  std::unique_ptr<test::Child> engine;
  std::optional<int> code;

  void start() {
    const std::string dst_uri = "unix:" + (src.dir / "dst.sock");
    dst = destination(src.dir, "dst", dst_uri);
    relay = std::make_unique<test::Relay>(src.dir / "relay.sock", src.dir / "dst.sock");
    std::this_thread::sleep_for(1s);  // the guest writes for a while first
    auto argv = engine_argv(src, relay->uri(), "20");
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
  for (int i = 0; i < 100 && !r.dst->process().wait(0ms); ++i) std::this_thread::sleep_for(50ms);
  expect_not_resumed(*r.dst);
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
  for (int i = 0; i < 100 && !r.dst->process().wait(0ms); ++i) std::this_thread::sleep_for(50ms);
  expect_not_resumed(*r.dst);
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
  for (int i = 0; i < 100 && !r.dst->process().wait(0ms); ++i) std::this_thread::sleep_for(50ms);
  expect_not_resumed(*r.dst);
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
  for (int i = 0; i < 100 && !r.dst->process().wait(0ms); ++i) std::this_thread::sleep_for(50ms);
  expect_not_resumed(*r.dst);
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
  for (int i = 0; i < 100 && !r.dst->process().wait(0ms); ++i) std::this_thread::sleep_for(50ms);
  expect_not_resumed(*r.dst);
  second_migration_arrives_whole(r.src);
}

}  // namespace
}  // namespace dpdc
