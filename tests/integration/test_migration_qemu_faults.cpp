// Faults while the engine migrates an unmodified QEMU (docs/faults.md, "QEMU
// to QEMU"): the destination refused, gone mid-way, killed after the stop
// or after the end of the stream, the link stalled after the stop, the
// engine interrupted (in round 1, between rounds, after the stop) or
// killed, the source QEMU killed. After each: the one-line error says where the
// guest is, the source guest runs (or, its QEMU killed, the destination
// never ran an unfinished stream), and a second migration of the guest
// arrives byte for byte with the ab check passing and nothing left behind.
// Under TCG on the host, and under KVM with the ring in the VM runner's
// qemu-kvm group (the names are in tests/vm/groups.list).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "ab_check.h"
#include "facilities.h"
#include "loader/proc_stat.h"
#include "loopback.h"
#include "qemu_guest.h"
#include "qemu_process.h"
#include "relay.h"
#include "stop_watcher.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace dpdc {
namespace {

using namespace std::chrono_literals;
using namespace test::qemu_guest;

const std::string kWorkload = "ab,pages=2048";

// A source with a second QMP socket for the test's StopWatcher, and a
// destination QEMU -incoming behind a relay the test controls.
struct RelayedQemu {
  explicit RelayedQemu(const test::TempDir& d)
      : dir(d),
        src(d, with_watch_socket(d)),
        dst(std::make_unique<test::Qemu>(d, incoming(d))),
        relay(d / "relay.sock", d / "dst.sock"),
        watch_sock(d / "watch.sock") {}

  static std::vector<std::string> with_watch_socket(const test::TempDir& dir) {
    auto args = source_args(dir, kWorkload);
    args.insert(args.end(), {"-qmp", "unix:" + (dir / "watch.sock") + ",server=on,wait=off"});
    return args;
  }
  static std::vector<std::string> incoming(const test::TempDir& dir) {
    auto args = machine_args(kWorkload);
    args.insert(args.end(), {"-incoming", "unix:" + (dir / "dst.sock")});
    return args;
  }
  std::vector<std::string> attach(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> cmd{engine(), "attach", "--pid", std::to_string(src.pid()), "--to", relay.uri()};
    cmd.insert(cmd.end(), extra.begin(), extra.end());
    return cmd;
  }

  // Round 1 is under way: 2 MiB of the stream went through (waits up to 60 s).
  bool in_round_one() const {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (relay.forwarded() < (2u << 20) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    return relay.forwarded() >= (2u << 20);
  }
  // The source guest runs: it has finished two rounds.
  bool guest_started() { return wait_rounds(src, dir, 2, 60s); }
  // From the source's STOP on, the relay stops reading, so the last round
  // cannot reach the destination; `then` runs next, and `stopped` is set.
  void stall_at_stop(std::function<void()> then = {}) {
    watcher = std::make_unique<test::StopWatcher>(watch_sock, [this, then] {
      relay.stall();
      if (then) then();
      stopped = true;
    });
  }
  bool wait_stopped(std::chrono::seconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stopped && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    return stopped;
  }

  const test::TempDir& dir;
  test::Qemu src;
  std::unique_ptr<test::Qemu> dst;
  test::Relay relay;
  std::string watch_sock;
  std::atomic<bool> stopped{false};
  std::unique_ptr<test::StopWatcher> watcher;  // last: it calls into the members above
};

// Waits until `pid` has exited: SIGKILL is not instant, and a QEMU still
// tearing down has closed its sockets but is not a zombie yet (seen nested
// under TCG).
bool wait_gone(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (process_alive(pid) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  return !process_alive(pid);
}

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

// The engine failed with `code` and one line that ends saying where the
// guest is (`where`: "keeps running", "runs again", "is gone"); the lines
// of --progress json before it are objects, not words.
void expect_one_line(int code, const std::string& err, int want, const std::string& where) {
  EXPECT_EQ(code, want) << err;
  std::string words;
  std::size_t at = 0;
  for (std::size_t nl; (nl = err.find('\n', at)) != std::string::npos; at = nl + 1) {
    if (err.compare(at, 2, "{\"") != 0) words += err.substr(at, nl + 1 - at);
  }
  EXPECT_NE(words.find(where), std::string::npos) << err;
  EXPECT_EQ(lines(words), 1u) << err;
}

// The destination never ran a guest from the unfinished stream: it is gone,
// or still waits; once its link ends it refuses the stream.
void expect_destination_never_ran(RelayedQemu& m) {
  if (m.dst && process_alive(m.dst->pid())) {
    try {
      EXPECT_NE(status_of(*m.dst), "running") << "the destination ran an unfinished stream";
    } catch (const std::exception& e) {
      // Its incoming failed as the link ended (the engine died): on its way
      // out, its QMP socket closed before it exited.
      EXPECT_TRUE(wait_gone(m.dst->pid(), 30s)) << "the destination's QMP failed while it lives on: " << e.what();
    }
  }
  m.relay.cut();
  m.dst.reset();
}

// The source guest runs on, and a second migration of it arrives byte for
// byte, passes the ab check, and leaves nothing behind.
void expect_source_runs_and_migrates_whole(test::Qemu& src, const test::TempDir& dir) {
  EXPECT_EQ(status_of(src), "running");
  const auto before = guest_status(src, dir).rounds;
  EXPECT_TRUE(wait_rounds(src, dir, before + 1, 60s)) << "the source guest does not run on";
  std::unique_ptr<test::Qemu> again;
  nlohmann::json report;
  ASSERT_NO_FATAL_FAILURE(migrate_to_paused(src, dir, machine_args(kWorkload), again, report));
  EXPECT_TRUE(same_ram(src, *again, dir));
  auto st = guest_status(*again, dir);
  test::expect_ab_consistent(pmem(*again, dir, st.area_gpa, st.area_pages * 4096), 0, st.area_pages);
  expect_nothing_left(src);
}

TEST(QemuSourceAborts, RefusedDestinationLeavesTheSourceRunning) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  test::Qemu src(dir, source_args(dir, "ab,pages=256"));
  ASSERT_TRUE(wait_rounds(src, dir, 0, 60s));
  auto r = test::run({engine(), "attach", "--pid", std::to_string(src.pid()), "--to",
                      "tcp:127.0.0.1:" + std::to_string(test::free_loopback_port())});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_EQ(status_of(src), "running");
  expect_nothing_left(src);
  auto before = guest_status(src, dir).rounds;
  EXPECT_TRUE(wait_rounds(src, dir, before, 30s));
}

TEST(QemuSourceAborts, DestinationGoneMidwayLeavesTheSourceRunning) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  test::Qemu src(dir, source_args(dir, "ab,pages=256"));
  ASSERT_TRUE(wait_rounds(src, dir, 0, 60s));
  const std::size_t dirs_before = device_dirs_left();
  // A destination that takes the first bytes, then hangs up.
  test::LoopbackListener listener;
  ASSERT_NE(listener.port(), 0);
  std::thread hangup([&listener] {
    int c = ::accept(listener.fd(), nullptr, nullptr);
    char buf[4096];
    (void)::read(c, buf, sizeof buf);
    ::close(c);
  });
  auto r = test::run({engine(), "attach", "--pid", std::to_string(src.pid()), "--to",
                      "tcp:127.0.0.1:" + std::to_string(listener.port()), "--max-bandwidth", "20"});
  hangup.join();
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_EQ(status_of(src), "running");
  EXPECT_FALSE(ignore_shared_on(src));
  EXPECT_EQ(device_dirs_left(), dirs_before);
  expect_nothing_left(src);
  auto before = guest_status(src, dir).rounds;
  EXPECT_TRUE(wait_rounds(src, dir, before, 30s));
}

// SIGKILL after the stop, once QEMU's own part of the switchover (its
// device state, into the engine) has completed: QEMU is in postmigrate and
// stays there, as nothing in QEMU resumes a guest whose migration
// completed. The destination never got the stream's end and never runs; the
// guest is whole in the source, and `cont` runs it on. (A dpdc-vm source
// resumes by itself: MigrationFaults.EngineSigkillAfterTheStop*.) The dead
// engine's pins and, with the ring, its dirty limit (one no vCPU reaches)
// stay; the next attach sweeps the pins and cancels the limit
// (qemu_dirty_logging.h), so the second migration leaves nothing behind
// (docs/faults.md).
TEST(QemuSourceAborts, EngineKilledAfterTheStopLeavesTheSourceInPostmigrateForCont) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  RelayedQemu m(dir);
  ASSERT_TRUE(m.guest_started()) << "the source guest did not start";
  m.stall_at_stop();
  test::Child engine_run(m.attach({"--max-bandwidth", "20"}));
  ASSERT_TRUE(m.wait_stopped(120s)) << "the engine never stopped the guest: " << engine_run.err();
  std::string qemu_part;
  for (int i = 0; i < 600 && qemu_part != "completed"; ++i, std::this_thread::sleep_for(50ms)) {
    qemu_part = m.src.qmp().execute("query-migrate").value("status", "");
  }
  ASSERT_EQ(qemu_part, "completed") << "QEMU's own part of the switchover did not complete";
  // The engine gives QEMU back its settings the moment it sees QEMU's part
  // completed, which the test may see first: a kill can leave them set only
  // inside that window (docs/faults.md), so the kill comes after it.
  for (int i = 0; i < 200 && ignore_shared_on(m.src); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_FALSE(engine_run.wait(0ms).has_value()) << "the engine finished through a stalled link: " << engine_run.err();
  engine_run.signal(SIGKILL);
  ASSERT_EQ(engine_run.wait(30s), 128 + SIGKILL);

  EXPECT_EQ(status_of(m.src), "postmigrate");
  EXPECT_FALSE(ignore_shared_on(m.src)) << "x-ignore-shared stays on after QEMU's part completed";
  std::this_thread::sleep_for(2s);
  expect_destination_never_ran(m);
  m.src.qmp().execute("cont");
  expect_source_runs_and_migrates_whole(m.src, dir);
}

// The destination killed the moment the source stops: the engine cannot
// send the last round, says so, and runs the source guest again (QEMU is in
// postmigrate by then: its own part, the device state into the engine, is
// over before the engine sends the last round).
TEST(QemuSourceAborts, DestinationKilledAfterTheStopRunsTheSourceAgain) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  RelayedQemu m(dir);
  ASSERT_TRUE(m.guest_started()) << "the source guest did not start";
  const pid_t dst_pid = m.dst->pid();
  m.stall_at_stop([&m, dst_pid] {
    ::kill(dst_pid, SIGKILL);
    m.relay.cut();
  });
  auto r = test::run(m.attach({"--max-bandwidth", "20"}), {}, 120s);
  EXPECT_TRUE(m.stopped) << "the engine never stopped the guest";
  expect_one_line(r.code, r.err, 1, "runs again");
  EXPECT_TRUE(wait_gone(dst_pid, 30s)) << "the destination outlived SIGKILL";
  expect_destination_never_ran(m);
  expect_source_runs_and_migrates_whole(m.src, dir);
}

// A link that stops taking data after the stop (the destination alive but
// silent): the engine gives up after --stall-timeout rather than hold the
// guest paused for ever, and runs it again. The destination never got the
// stream's end.
TEST(QemuSourceAborts, LinkStalledAfterTheStopRunsTheSourceAgainAfterTheStallTimeout) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  RelayedQemu m(dir);
  ASSERT_TRUE(m.guest_started()) << "the source guest did not start";
  m.stall_at_stop();
  auto r = test::run(m.attach({"--max-bandwidth", "20", "--stall-timeout", "10"}), {}, 120s);
  EXPECT_TRUE(m.stopped) << "the engine never stopped the guest";
  expect_one_line(r.code, r.err, 1, "took no data for 10 s");
  EXPECT_NE(r.err.find("runs again"), std::string::npos) << r.err;
  ASSERT_TRUE(process_alive(m.dst->pid())) << "the destination died: " << m.dst->stderr_text();
  EXPECT_EQ(status_of(*m.dst), "inmigrate");
  expect_destination_never_ran(m);
  expect_source_runs_and_migrates_whole(m.src, dir);
}

// SIGTERM after the stop, the last round stuck on a stalled link: the
// engine stops at once (not after the stall timeout), undoes what it set up
// and runs the guest again.
TEST(QemuSourceAborts, TerminatedAfterTheStopRunsTheSourceAgain) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  RelayedQemu m(dir);
  ASSERT_TRUE(m.guest_started()) << "the source guest did not start";
  m.stall_at_stop();
  test::Child engine_run(m.attach({"--max-bandwidth", "20"}));
  ASSERT_TRUE(m.wait_stopped(120s)) << "the engine never stopped the guest: " << engine_run.err();
  std::this_thread::sleep_for(1s);  // into the last round
  engine_run.signal(SIGTERM);
  auto code = engine_run.wait(30s);
  ASSERT_TRUE(code.has_value()) << "the engine did not stop on SIGTERM";
  expect_one_line(*code, engine_run.err(), 130, "runs again");
  EXPECT_FALSE(ignore_shared_on(m.src)) << "the engine must restore QEMU's capability";
  expect_destination_never_ran(m);
  expect_source_runs_and_migrates_whole(m.src, dir);
}

// The source QEMU killed during the rounds: the engine stops, says the VMM
// is gone and that the destination never resumes an unfinished stream,
// and unpins what it pinned; the destination refuses the stream.
TEST(QemuSourceAborts, SourceKilledDuringTheRoundsLeavesNothingRunning) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  RelayedQemu m(dir);
  ASSERT_TRUE(m.guest_started()) << "the source guest did not start";
  const pid_t src_pid = m.src.pid();
  test::Child engine_run(m.attach({"--max-bandwidth", "5"}));
  ASSERT_TRUE(m.in_round_one()) << "the engine never got into round 1: " << engine_run.err();
  ::kill(src_pid, SIGKILL);
  auto code = engine_run.wait(60s);
  ASSERT_TRUE(code.has_value()) << "the engine did not stop when its source died";
  // Exit 3: the target process is unusable.
  expect_one_line(*code, engine_run.err(), 3, "(pid " + std::to_string(src_pid) + ") is gone");
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/bpf/dpdc/" + std::to_string(src_pid))) << "maps left pinned";
  m.relay.cut();
  EXPECT_TRUE(wait_gone(m.dst->pid(), 30s)) << "the destination still waits for a stream that was cut";
}

// Ctrl-C during the rounds: the engine stops sending, the guest was never
// paused and runs on, and everything the engine set up is undone.
TEST(QemuSourceAborts, InterruptDuringTheRoundsLeavesTheSourceRunning) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  test::Qemu src(dir, source_args(dir, "ab,pages=4096"));
  ASSERT_TRUE(wait_rounds(src, dir, 0, 60s));
  test::LoopbackListener listener;  // takes whatever comes, as slowly as the cap below sends it
  ASSERT_NE(listener.port(), 0);
  std::atomic<std::uint64_t> received{0};
  std::thread sink([&listener, &received] {
    int c = ::accept(listener.fd(), nullptr, nullptr);
    char buf[65536];
    for (ssize_t n; (n = ::read(c, buf, sizeof buf)) > 0;) received += static_cast<std::uint64_t>(n);
    ::close(c);
  });
  // More data (the 16 MiB area) than the engine's send buffers hold, at
  // 0.5 MB/s: round 1 lasts half a minute, and the signal comes inside it.
  test::Child engine_run({engine(), "attach", "--pid", std::to_string(src.pid()), "--to",
                          "tcp:127.0.0.1:" + std::to_string(listener.port()), "--max-bandwidth", "0.5"});
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (received < (256u << 10) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  ASSERT_GE(received.load(), 256u << 10) << "the engine never got into round 1";
  engine_run.signal(SIGINT);
  auto code = engine_run.wait(30s);
  sink.join();
  ASSERT_TRUE(code.has_value()) << "the engine did not stop on SIGINT";
  EXPECT_EQ(*code, 130) << engine_run.err();
  EXPECT_NE(engine_run.err().find("keeps running"), std::string::npos) << engine_run.err();
  EXPECT_EQ(status_of(src), "running");
  EXPECT_FALSE(ignore_shared_on(src));
  expect_nothing_left(src);
  auto before = guest_status(src, dir).rounds;
  EXPECT_TRUE(wait_rounds(src, dir, before, 30s));
}

// SIGTERM between rounds (the engine's --progress json says round 2
// begins: round 1 is all sent and round 2 planned, the guest running): the
// engine stops there, undoes what it set up, and the guest was never
// paused.
TEST(QemuSourceAborts, TerminatedBetweenRoundsLeavesTheSourceRunning) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  RelayedQemu m(dir);
  ASSERT_TRUE(m.guest_started()) << "the source guest did not start";
  // A downtime limit of 1 ms: the ab guest never converges, so rounds go on.
  test::Child engine_run(
      m.attach({"--max-bandwidth", "20", "--downtime-limit", "1", "--progress", "json"}));
  const bool begun = engine_run.wait_for_err(
      [](const std::string& err) { return err.find("\"round\":2,") != std::string::npos; }, 120s);
  ASSERT_TRUE(begun) << "round 2 never began: " << engine_run.err();
  engine_run.signal(SIGTERM);
  auto code = engine_run.wait(30s);
  ASSERT_TRUE(code.has_value()) << "the engine did not stop on SIGTERM";
  expect_one_line(*code, engine_run.err(), 130, "keeps running");
  EXPECT_FALSE(ignore_shared_on(m.src)) << "the engine must restore QEMU's capability";
  expect_destination_never_ran(m);
  expect_source_runs_and_migrates_whole(m.src, dir);
}

// After the end of the stream the destination runs the guest and the
// source QEMU keeps it paused and whole (postmigrate), as after QEMU's own
// migration: a destination that dies then loses nothing that `cont` on the
// source does not bring back.
TEST(QemuSourceAborts, DestinationKilledAfterTheEndLeavesTheGuestWholeInTheSource) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  RelayedQemu m(dir);
  ASSERT_TRUE(m.guest_started()) << "the source guest did not start";
  auto r = test::run(m.attach(), {}, 180s);
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(wait_status(*m.dst, "running", 60s)) << "the destination did not run the migrated guest";
  const pid_t dst_pid = m.dst->pid();
  ::kill(dst_pid, SIGKILL);
  m.dst.reset();
  EXPECT_EQ(status_of(m.src), "postmigrate");
  m.src.qmp().execute("cont");
  expect_source_runs_and_migrates_whole(m.src, dir);
}

// SIGKILL in round 1: nothing in the engine undoes anything then, so it
// must have changed nothing of QEMU's own migration settings by that time
// (x-ignore-shared left on would make the user's next own `migrate` skip
// the shared RAM without a word). The guest was never paused; the next
// attach sweeps the dead engine's pins and dirty limit.
TEST(QemuSourceAborts, EngineKilledInRoundOneLeavesQemusMigrationSettingsAsTheUserHadThem) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  RelayedQemu m(dir);
  ASSERT_TRUE(m.guest_started()) << "the source guest did not start";
  const std::uint64_t users_cap = 123'456'789;
  m.src.qmp().execute("migrate-set-parameters", {{"max-bandwidth", users_cap}});
  test::Child engine_run(m.attach({"--max-bandwidth", "20"}));
  ASSERT_TRUE(m.in_round_one()) << "the engine never got into round 1: " << engine_run.err();
  engine_run.signal(SIGKILL);
  ASSERT_EQ(engine_run.wait(30s), 128 + SIGKILL);
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(process_alive(m.src.pid())) << "the source QEMU died with the engine: " << m.src.stderr_text();
  EXPECT_EQ(status_of(m.src), "running");
  EXPECT_FALSE(ignore_shared_on(m.src)) << "a killed engine left x-ignore-shared on";
  EXPECT_EQ(m.src.qmp().execute("query-migrate-parameters").value("max-bandwidth", std::uint64_t{0}), users_cap);
  expect_destination_never_ran(m);
  expect_source_runs_and_migrates_whole(m.src, dir);
  EXPECT_EQ(m.src.qmp().execute("query-migrate-parameters").value("max-bandwidth", std::uint64_t{0}), users_cap)
      << "a migration by the engine changed the user's max-bandwidth";
}

}  // namespace
}  // namespace dpdc
