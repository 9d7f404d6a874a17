// A real guest in dpdc-vm, traced for real: the tracker's per-page counts
// must equal what the VMM harvested from its own dirty rings, page for page,
// and the engine must attach, observe and leave nothing behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "bpf_progs.h"
#include "facilities.h"
#include "loader/dirty_track_loader.h"
#include "qemu/qmp_client.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "trace/trace.h"
#include "track/memory_layout.h"
#include "vm_process.h"

namespace dpdc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

// A dpdc-vm with its own scratch directory.
class Vm {
 public:
  explicit Vm(std::vector<std::string> extra) : vm_(dir_, "vm", std::move(extra)) {}
  pid_t pid() const { return vm_.pid(); }
  QmpClient& qmp() { return vm_.qmp(); }
  void wait_finished(std::chrono::seconds limit) {
    ASSERT_TRUE(vm_.wait_finished(limit)) << "the guest workload did not finish in time";
  }

 private:
  test::TempDir dir_;
  test::VmProcess vm_;
};

// Attach the tracker to a paused guest, run a workload of known rounds to the
// end, and compare the tracker with the VMM's own harvest.
void expect_tracker_matches_harvest(std::vector<std::string> vm_args, std::uint32_t rounds) {
  vm_args.push_back("-S");
  Vm vm(vm_args);
  MemoryLayout layout = layout_from_dpdc_vm(vm.qmp().execute("x-dpdc-query-memory"));
  TrackerOptions o;
  o.vmm_pid = vm.pid();
  o.pages = static_cast<std::uint32_t>(layout.pages);
  o.pin = false;
  DirtyTracker tracker(o);
  for (const auto& s : layout.slots) tracker.set_slot(s.slot, s.first_page, s.pages);

  vm.qmp().execute("cont");
  vm.wait_finished(std::chrono::seconds(300));
  json harvest = vm.qmp().execute("x-dpdc-query-harvest");  // harvests what is still in the rings
  // Pushes whose tracepoint call skipped the program (a preemptible kernel
  // with two vCPU threads on one CPU) are accounted from the rings now.
  const std::uint32_t vcpus = vm.qmp().execute("x-dpdc-query-memory")["vcpus"];
  EXPECT_EQ(tracker.sync(vcpus), 0u) << "a vCPU ring the tracker never saw";
  EXPECT_EQ(tracker.counters().lost, 0u);
  ::testing::Test::RecordProperty("late_pushes", std::to_string(tracker.counters().late));
  const auto& counts = harvest.at("counts");
  ASSERT_EQ(counts.size(), layout.pages);
  auto pages = tracker.pages();
  std::uint64_t mismatches = 0, total = 0;
  for (std::size_t p = 0; p < layout.pages; ++p) {
    total += pages[p].count;
    if (pages[p].count != counts[p].get<std::uint32_t>() && mismatches++ < 10) {
      ADD_FAILURE() << "page " << p << ": tracker " << pages[p].count << ", VMM harvested " << counts[p];
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(total, harvest.at("total").get<std::uint64_t>());
  EXPECT_EQ(tracker.counters().unknown_slot, harvest.at("unknown").get<std::uint64_t>());

  // With sync=on every workload page was re-protected between rounds, so it
  // was pushed at least once per round. KVM promises no more than that: a
  // write fault pushes its page before the write retires, and when the ring
  // reaches its soft limit right then, the vCPU exits (KVM_EXIT_DIRTY_RING_FULL)
  // with the write still to do; the VMM's reset re-protects the page and the
  // retried write pushes it again (seen under kvm-amd: the page written at
  // the soft limit in round 1, 11 pushes in 10 rounds). Each reset can do this
  // to at most the one page in flight on each vCPU, which bounds the excess.
  json mem = vm.qmp().execute("x-dpdc-query-memory");
  std::uint64_t first = mem["workload-area"]["first-page"], n = mem["workload-area"]["pages"];
  const std::uint64_t resets = harvest["resets"], full_exits = harvest["full-exits"];
  std::uint64_t excess = 0;
  for (std::uint64_t p = first; p < first + n; ++p) {
    ASSERT_GE(pages[p].count, rounds) << "workload page " << p << " was not pushed in every synced round";
    excess += pages[p].count - rounds;
  }
  EXPECT_LE(excess, resets * vcpus) << "workload pages pushed more often than the " << resets
                                    << " ring resets (" << full_exits << " on a full ring) can explain";
}

TEST(DpdcVm, TrackerMatchesHarvestOneVcpu) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  expect_tracker_matches_harvest(
      {"-m", "64M", "-smp", "1", "-accel", "kvm,dirty-ring-size=4096", "--workload", "seq,pages=4096,rounds=10,sync=on"},
      10);
}

TEST(DpdcVm, TrackerMatchesHarvestTwoVcpus) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  expect_tracker_matches_harvest(
      {"-m", "64M", "-smp", "2", "-accel", "kvm,dirty-ring-size=4096", "--workload", "seq,pages=4096,rounds=10,sync=on"},
      10);
}

TEST(DpdcVm, TwoMemslotsAroundAHole) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  // 8 MiB below the hole, 24 MiB above it: the workload writes on both sides.
  expect_tracker_matches_harvest({"-m", "32M", "--hole", "8M,1M", "-accel", "kvm,dirty-ring-size=4096", "--workload",
                                  "seq,rounds=3,sync=on"},
                                 3);
}

TEST(DpdcVm, EngineObservesWhileMapIsReadableWithBpftool) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  Vm vm({"-m", "64M", "-accel", "kvm,dirty-ring-size=4096", "--workload", "hotcold"});
  int before = test::settle_programs_named("dpdc_push", 0);
  test::Child engine({test::bin("dpdc-engine"), "attach", "--pid", std::to_string(vm.pid()), "--observe",
                      "--seconds", "4", "--json"});
  ASSERT_TRUE(engine.wait_for_output("\"type\":\"attached\"", 60s)) << engine.err();
  fs::path pages = fs::path("/sys/fs/bpf/dpdc") / std::to_string(vm.pid()) / "pages";
  auto dump = test::run({"/usr/sbin/bpftool", "map", "lookup", "pinned", pages.string(), "key", "0", "0", "0", "0"});
  EXPECT_EQ(dump.code, 0) << dump.err;
  EXPECT_NE(dump.out.find("last_ns"), std::string::npos) << dump.out;
  ASSERT_EQ(engine.wait(60s), 0) << engine.err();

  int samples = 0;
  json summary;
  std::istringstream lines(engine.out());
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line);
    if (j["type"] == "sample") ++samples;
    if (j["type"] == "summary") summary = j;
  }
  EXPECT_GE(samples, 3);
  ASSERT_FALSE(summary.is_null());
  EXPECT_GT(summary["census"]["dirtied"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(summary["census"]["hot"].get<std::uint64_t>() + summary["census"]["warm"].get<std::uint64_t>() +
                summary["census"]["cold"].get<std::uint64_t>(),
            summary["census"]["pages"].get<std::uint64_t>());
  EXPECT_FALSE(fs::exists(pages.parent_path()));
  EXPECT_EQ(test::settle_programs_named("dpdc_push", before), before);
  EXPECT_EQ(vm.qmp().execute("query-status")["status"], "running");
}

TEST(DpdcVm, EngineSigintAndSigkillLeaveNothingAttached) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  Vm vm({"-m", "64M", "-accel", "kvm,dirty-ring-size=4096", "--workload", "seq"});
  int before = test::settle_programs_named("dpdc_push", 0);
  fs::path dir = fs::path("/sys/fs/bpf/dpdc") / std::to_string(vm.pid());
  std::vector<std::string> observe = {test::bin("dpdc-engine"), "attach", "--pid", std::to_string(vm.pid()),
                                      "--observe"};
  {
    test::Child engine(observe);
    ASSERT_TRUE(engine.wait_for_output("attached", 60s)) << engine.err();
    EXPECT_TRUE(fs::exists(dir));
    engine.signal(SIGINT);
    ASSERT_EQ(engine.wait(30s), 0) << engine.err();
    EXPECT_NE(engine.out().find("observed pid"), std::string::npos) << engine.out();
    EXPECT_FALSE(fs::exists(dir));
    EXPECT_EQ(test::settle_programs_named("dpdc_push", before), before);
  }
  {
    test::Child engine(observe);
    ASSERT_TRUE(engine.wait_for_output("attached", 60s)) << engine.err();
    engine.signal(SIGKILL);
    engine.wait(30s);
    EXPECT_TRUE(fs::exists(dir)) << "a SIGKILLed engine cannot unpin";
    EXPECT_EQ(test::settle_programs_named("dpdc_push", before), before);
  }
  auto again = test::run({test::bin("dpdc-engine"), "attach", "--pid", std::to_string(vm.pid()), "--observe",
                          "--seconds", "1"});
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(vm.qmp().execute("query-status")["status"], "running");
}

TEST(DpdcVm, RecordedTraceHasEveryHarvestedEvent) {
  DPDC_REQUIRE(kvm);
  DPDC_REQUIRE(bpf);
  Vm vm({"-m", "64M", "-accel", "kvm,dirty-ring-size=4096", "--workload", "seq,pages=2048,rounds=5,sync=on", "-S"});
  test::TempDir dir;
  std::string file = dir / "seq.trace";
  test::Child engine({test::bin("dpdc-engine"), "attach", "--pid", std::to_string(vm.pid()), "--record", file});
  ASSERT_TRUE(engine.wait_for_output("attached", 60s)) << engine.err();
  vm.qmp().execute("cont");
  vm.wait_finished(std::chrono::seconds(300));
  json harvest = vm.qmp().execute("x-dpdc-query-harvest");
  std::this_thread::sleep_for(300ms);  // let the drain thread catch up before stopping it
  engine.signal(SIGINT);
  ASSERT_EQ(engine.wait(60s), 0) << engine.err();
  EXPECT_NE(engine.out().find("recorded"), std::string::npos) << engine.out();

  Trace trace = read_trace_file(file);
  const auto& counts = harvest.at("counts");
  ASSERT_EQ(trace.pages, counts.size());
  std::vector<std::uint32_t> per_page(trace.pages, 0);
  for (const auto& e : trace.events) per_page[e.page]++;
  for (std::size_t p = 0; p < trace.pages; ++p) ASSERT_EQ(per_page[p], counts[p].get<std::uint32_t>()) << "page " << p;
}

}  // namespace
}  // namespace dpdc
