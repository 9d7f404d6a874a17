// `dpdc-engine attach --pid <qemu -accel kvm,dirty-ring-size=N>`: a QEMU/KVM
// guest tracked by the BPF programs on KVM's dirty ring, its memslots read
// from KVM itself. Needs QEMU with KVM: the VM runner's qemu-kvm group.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
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

std::string engine() { return std::string(DPDC_BIN_DIR) + "/dpdc-engine"; }

// A QEMU/KVM guest with a dirty ring, set up as docs/qemu.md says; the
// test's Qemu adds -accel kvm (DPDC_TEST_QEMU_ACCEL=kvm), the ring size
// rides on a first -accel option.
std::vector<std::string> ring_guest(const test::TempDir& dir, const std::string& workload) {
  auto args = test::qemu_guest::source_args(dir, workload);
  args.insert(args.begin(), {"-accel", "kvm,dirty-ring-size=4096"});
  return args;
}

bool requires_kvm_qemu() {
  const char* accel = std::getenv("DPDC_TEST_QEMU_ACCEL");
  return accel != nullptr && std::string(accel) == "kvm";
}

// Every page the seq guest writes (its 512-page area, every round) has
// events; outside the area only the guest's status, stack and data change.
// Dirty logging is on only while the engine is attached.
TEST(QemuRingTracker, EveryWrittenPageHasEventsAndNothingElseButTheGuestsOwnData) {
  DPDC_REQUIRE(qemu);
  if (!requires_kvm_qemu()) GTEST_SKIP() << "needs QEMU -accel kvm: runs in the VM runner's qemu-kvm group";
  test::TempDir dir;
  test::Qemu q(dir, ring_guest(dir, "seq,pages=512,delay=2000"));
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (test::guest_rounds(q, dir) < 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  ASSERT_GE(test::guest_rounds(q, dir), 1u) << "the guest did not start";
  const std::string trace_path = dir / "ring.trace";
  const std::uint64_t rounds_before = test::guest_rounds(q, dir);
  auto r = test::run({engine(), "attach", "--pid", std::to_string(q.pid()), "--observe", "--record", trace_path,
                      "--seconds", "3", "--json"},
                     {}, 60s);
  const std::uint64_t rounds_after = test::guest_rounds(q, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto attached = test::json_line_of_type(r.out, "attached");
  const auto summary = test::json_line_of_type(r.out, "summary");
  ASSERT_TRUE(attached.is_object() && summary.is_object()) << r.out;
  EXPECT_EQ(attached.value("dirty_source", ""), "kvm-dirty-ring");
  EXPECT_TRUE(attached.value("memslots_from_kvm", false));
  ASSERT_GE(rounds_after, rounds_before + 2) << "the guest must write its whole area at least twice meanwhile";

  // The slots read from KVM: pc.ram's below 640 KiB and from 1 MiB, placed at
  // their guest addresses (pc.ram's offset equals the address below 4 GiB).
  std::uint64_t migrated_pages = 0;
  for (const auto& s : summary["memslots"]) {
    if (s.value("migrated", false)) migrated_pages += s.value("pages", 0u);
  }
  EXPECT_GT(migrated_pages, (60u << 20) / 4096) << summary.dump();
  EXPECT_EQ(summary["counters"].value("unknown_slot", 1u), 0u) << summary.dump();
  EXPECT_EQ(summary["counters"].value("out_of_range", 1u), 0u) << summary.dump();
  EXPECT_EQ(summary["counters"].value("lost", 1u), 0u) << summary.dump();

  const Trace t = read_trace_file(trace_path);
  constexpr std::uint64_t kArea = DPDC_GUEST_AREA_GPA / 4096, kPages = 512;
  std::set<std::uint64_t> in_area, outside;
  for (const auto& e : t.events) (e.page >= kArea && e.page < kArea + kPages ? in_area : outside).insert(e.page);
  EXPECT_EQ(in_area.size(), kPages) << "every page of the area is written every round";
  EXPECT_TRUE(outside.count(DPDC_GUEST_STATUS_GPA / 4096)) << "the status block changes every round";
  for (auto p : outside) EXPECT_LT(p, kArea) << "a page above the workload area has events";
  EXPECT_LE(outside.size(), 16u) << "outside the area the guest writes only its status, stack, data and page tables";

  EXPECT_TRUE(q.qmp().execute("query-vcpu-dirty-limit").empty()) << "dirty logging must be off again";
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/bpf/dpdc/" + std::to_string(q.pid()))) << "nothing stays pinned";
}

}  // namespace
}  // namespace dpdc
