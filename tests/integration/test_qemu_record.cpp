// `dpdc-engine attach --pid <qemu> --record FILE` on a QEMU without a KVM
// dirty ring (TCG here): the guest's shared RAM recorded by content scans.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "facilities.h"
#include "guest_probe.h"
#include "qemu_process.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "trace/trace.h"

namespace dpdc {
namespace {

using namespace std::chrono_literals;

std::string engine() { return std::string(DPDC_BIN_DIR) + "/dpdc-engine"; }

std::vector<std::string> guest(const test::TempDir& dir, const std::string& workload) {
  return {"-qmp",    "unix:" + (dir / "engine.sock") + ",server=on,wait=off",
          "-object", "memory-backend-memfd,id=pc.ram,size=64M,share=on",
          "-M",      "pc,memory-backend=pc.ram",
          "-m",      "64M",
          "-kernel", std::string(DPDC_BIN_DIR) + "/dpdc-guest.img",
          "-append", workload};
}


// What the trace says must be what the guest does: hotcold writes its area
// (512 pages from 4 MiB), hot pages (the first 10%) far more often; nothing
// else changes but the status block and the guest's own stack and data.
TEST(QemuRecordByContent, TraceHoldsTheWorkloadsPagesHotOnesMoreOften) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  test::Qemu q(dir, guest(dir, "hotcold,hot=10,writes=90,pages=512,delay=200"));
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (test::guest_rounds(q, dir) < 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  ASSERT_GE(test::guest_rounds(q, dir), 1u) << "the guest did not start";
  const std::string trace_path = dir / "guest.trace";
  auto r = test::run({engine(), "attach", "--pid", std::to_string(q.pid()), "--record", trace_path, "--seconds", "1.5",
                      "--json"},
                     {}, 60s);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json summary = test::json_line_of_type(r.out, "summary");
  ASSERT_TRUE(summary.is_object()) << r.out;

  const Trace t = read_trace_file(trace_path);
  EXPECT_EQ(t.pages, (64u << 20) / 4096);
  EXPECT_EQ(summary["recorded"].value("events", 0u), t.events.size());
  ASSERT_GT(t.events.size(), 100u);
  EXPECT_GE(t.duration_ns, 1'400'000'000u);
  constexpr std::uint64_t kArea = DPDC_GUEST_AREA_GPA / 4096, kHot = 51;
  std::vector<std::uint64_t> per_page(512, 0);
  std::set<std::uint64_t> outside;
  for (const auto& e : t.events) {
    if (e.page >= kArea && e.page < kArea + 512) {
      ++per_page[e.page - kArea];
    } else {
      EXPECT_LT(e.page, kArea) << "a page above the workload area changed";
      outside.insert(e.page);
    }
  }
  EXPECT_TRUE(outside.count(DPDC_GUEST_STATUS_GPA / 4096)) << "the status block changes every round";
  EXPECT_LE(outside.size(), 8u) << "pages outside the area: the guest writes only its status, stack and data";
  double hot = 0, cold = 0;
  for (std::size_t p = 0; p < 512; ++p) (p < kHot ? hot : cold) += static_cast<double>(per_page[p]);
  hot /= kHot;
  cold /= 512 - kHot;
  EXPECT_GT(hot, 3 * cold) << "hot pages are written 90% of the time, 9x as often per page as cold ones";

  auto sim = test::run({engine(), "simulate", "--trace", trace_path, "--policy", "xen,qemu,dpdc", "--bandwidth", "5",
                        "--json"});
  ASSERT_EQ(sim.code, 0) << sim.err;
}

TEST(QemuRecordByContent, ObserveWithoutADirtyRingSaysToRecordInstead) {
  DPDC_REQUIRE(qemu);
  test::TempDir dir;
  test::Qemu q(dir, guest(dir, "idle"));
  auto r = test::run({engine(), "attach", "--pid", std::to_string(q.pid()), "--observe", "--seconds", "1"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("--record FILE"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace dpdc
