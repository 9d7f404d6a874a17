// `dpdc-engine attach --pid <qemu -accel kvm>`: a QEMU/KVM guest without a
// dirty ring (QEMU's default: KVM's dirty bitmap), tracked by the BPF
// program on KVM's mark_page_dirty_in_slot while the engine keeps QEMU
// re-protecting its pages (calc-dirty-rate mode=dirty-bitmap, once a
// second). Needs QEMU with KVM: the VM runner's qemu-bitmap group.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "facilities.h"
#include "guest_probe.h"
#include "qemu_guest.h"
#include "qemu_process.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "trace/trace.h"

namespace dpdc {
namespace {

using namespace std::chrono_literals;

// The guest as docs/qemu.md says, with -accel kvm first: QEMU takes the
// first accelerator that works, so the test's own -accel (with a ring in
// group qemu-kvm) never applies.
std::vector<std::string> bitmap_guest(const test::TempDir& dir, const std::string& workload,
                                      const std::string& accel = "kvm") {
  auto args = test::qemu_guest::source_args(dir, workload);
  args.insert(args.begin(), {"-accel", accel});
  return args;
}

// Every page the seq guest writes (its 512-page area, over and over) has
// marks, at least one per re-protection run it was written in; outside the
// area only the guest's own status, stack, data and page tables, and the
// pages KVM itself writes for the guest (its clock), are marked.
TEST(QemuBitmapTracker, EveryWrittenPageHasMarksAndNothingElseButTheGuestsOwnData) {
  DPDC_REQUIRE(qemu);
  if (!test::qemu_guest::kvm_accel()) GTEST_SKIP() << "needs QEMU -accel kvm: runs in the VM runner's qemu-bitmap group";
  test::TempDir dir;
  test::Qemu q(dir, bitmap_guest(dir, "seq,pages=512,delay=2000"));
  ASSERT_TRUE(test::qemu_guest::wait_rounds(q, dir, 0, 60s)) << "the guest did not start";
  const std::string trace_path = dir / "marks.trace";
  const std::uint64_t rounds_before = test::guest_rounds(q, dir);
  auto r = test::run({test::qemu_guest::engine(), "attach", "--pid", std::to_string(q.pid()), "--observe", "--record",
                      trace_path, "--seconds", "4", "--json"},
                     {}, 60s);
  const std::uint64_t rounds_after = test::guest_rounds(q, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto attached = test::json_line_of_type(r.out, "attached");
  const auto summary = test::json_line_of_type(r.out, "summary");
  ASSERT_TRUE(attached.is_object() && summary.is_object()) << r.out;
  EXPECT_EQ(attached.value("dirty_source", ""), "kvm-dirty-bitmap");
  EXPECT_EQ(attached["dirty_logging"].value("mechanism", ""), "calc-dirty-rate") << attached.dump();
  EXPECT_EQ(summary.value("tracker_mode", ""), "mark");
  const std::uint64_t runs = summary.value("reprotection_runs", 0u);
  EXPECT_GE(runs, 3u) << "4 s of 1 s runs, back to back";
  ASSERT_GE(rounds_after, rounds_before + 4) << "the guest must write its whole area in every run";

  EXPECT_EQ(summary["counters"].value("unknown_slot", 1u), 0u) << summary.dump();
  EXPECT_EQ(summary["counters"].value("out_of_range", 1u), 0u) << summary.dump();
  EXPECT_EQ(summary["recorded"].value("dropped", 1u), 0u) << summary.dump();

  const Trace t = read_trace_file(trace_path);
  constexpr std::uint64_t kArea = DPDC_GUEST_AREA_GPA / 4096, kPages = 512;
  std::map<std::uint64_t, std::uint64_t> in_area;
  std::set<std::uint64_t> outside;
  for (const auto& e : t.events) {
    if (e.page >= kArea && e.page < kArea + kPages) {
      ++in_area[e.page];
    } else {
      outside.insert(e.page);
    }
  }
  EXPECT_EQ(in_area.size(), kPages) << "every page of the area is written in every run";
  // A page is marked once per run it is written in; the guest writes the
  // whole area many times a run, and every run but the last has ended
  // before the engine does.
  for (const auto& [page, marks] : in_area) {
    EXPECT_GE(marks, runs - 1) << "page " << page << ": fewer marks than re-protection runs";
    EXPECT_LE(marks, runs + 1) << "page " << page << ": more marks than re-protections (" << runs << " runs)";
  }
  EXPECT_TRUE(outside.count(DPDC_GUEST_STATUS_GPA / 4096)) << "the status block changes every round";
  for (auto p : outside) EXPECT_LT(p, kArea) << "a page above the workload area has marks";
  EXPECT_LE(outside.size(), 16u) << "outside the area the guest writes only its status, stack, data and page tables";

  EXPECT_NE(q.qmp().execute("query-dirty-rate").value("status", ""), "measuring") << "dirty logging must be off again";
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/bpf/dpdc/" + std::to_string(q.pid()))) << "nothing stays pinned";
}

// --dirty-source fault where it cannot apply: one line, nothing attached.
TEST(QemuBitmapTracker, FaultForAQemuWithARingIsRefused) {
  DPDC_REQUIRE(qemu);
  if (!test::qemu_guest::kvm_accel()) GTEST_SKIP() << "needs QEMU -accel kvm: runs in the VM runner's qemu-bitmap group";
  test::TempDir dir;
  test::Qemu q(dir, bitmap_guest(dir, "idle", "kvm,dirty-ring-size=4096"));
  auto r = test::run({test::qemu_guest::engine(), "attach", "--pid", std::to_string(q.pid()), "--observe", "--seconds",
                      "1", "--dirty-source", "fault"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("has a KVM dirty ring"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(q.qmp().execute("query-status").value("status", ""), "running");
}

}  // namespace
}  // namespace dpdc
