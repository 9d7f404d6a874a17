// The tracker's programs, loaded into this kernel for real and driven with
// BPF_PROG_TEST_RUN: exact per-page accounting, memslot mapping, the process
// filter and the counters, without needing a running guest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>
#include <time.h>
#include <vector>

#include "bpf_progs.h"
#include "dpdc/clock.h"
#include "facilities.h"
#include "loader/dirty_track_loader.h"
#include "temp_dir.h"
#include "trace/recorder.h"
#include "trace/trace.h"

namespace dpdc {
namespace {

using test::run_raw_tp;

// Tracepoint arguments of kvm_dirty_ring_push: (ring, slot, offset). The ring
// pointer is NULL: its fields then read as zero (ring 0).
int push(const DirtyTracker& t, std::uint32_t slot, std::uint64_t offset, int cpu = -1) {
  std::uint64_t args[3] = {0, slot, offset};
  return run_raw_tp(t.program_fd(TrackerProgram::Push), args, 3, cpu);
}

TrackerOptions loaded_only(std::uint32_t pages, pid_t pid = ::getpid()) {
  TrackerOptions o;
  o.vmm_pid = pid;
  o.pages = pages;
  o.pin = false;
  o.attach = false;
  return o;
}

TEST(TrackerBpf, CountsEveryPushOfEveryPageExactly) {
  DPDC_REQUIRE(bpf);
  constexpr std::uint32_t kPages = 4096 + 512, kWritten = 4096, kRounds = 10;
  DirtyTracker t(loaded_only(kPages));
  t.set_slot(0, 0, kPages);
  for (std::uint32_t r = 0; r < kRounds; ++r)
    for (std::uint32_t p = 0; p < kWritten; ++p) ASSERT_EQ(push(t, 0, p), 0);

  auto pages = t.pages();
  ASSERT_EQ(pages.size(), kPages);
  for (std::uint32_t p = 0; p < kPages; ++p) {
    ASSERT_EQ(pages[p].count, p < kWritten ? kRounds : 0u) << "page " << p;
    if (p < kWritten) {
      ASSERT_GT(pages[p].last_ns, 0u);
      ASSERT_GE(pages[p].last_ns, pages[p].prev_ns);
      ASSERT_GT(pages[p].prev_ns, 0u);
    }
  }
  auto c = t.counters();
  EXPECT_EQ(c.pushes, std::uint64_t{kWritten} * kRounds);
  EXPECT_EQ(c.unknown_slot, 0u);
  EXPECT_EQ(c.out_of_range, 0u);
}

TEST(TrackerBpf, ConcurrentPushesFromTwoCpusAreAllCounted) {
  DPDC_REQUIRE(bpf);
  constexpr std::uint32_t kPages = 4096, kRounds = 10;
  DirtyTracker t(loaded_only(kPages));
  t.set_slot(0, 0, kPages);
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  // Two "vCPU" threads pinned to different CPUs write every page at the same
  // time: the per-page count must be the sum. (The program runs on the
  // calling CPU, where `current` is the thread, so the tgid filter passes;
  // BPF_F_TEST_RUN_ON_CPU would run it under another CPU's task.)
  std::vector<std::thread> vcpus;
  std::atomic<int> failures{0};
  for (unsigned v = 0; v < 2; ++v) {
    vcpus.emplace_back([&, v] {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(v % cpus, &set);
      if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) failures++;
      for (std::uint32_t r = 0; r < kRounds; ++r)
        for (std::uint32_t p = 0; p < kPages; ++p)
          if (push(t, 0, p) != 0) failures++;
    });
  }
  for (auto& th : vcpus) th.join();
  ASSERT_EQ(failures.load(), 0);
  for (std::uint32_t p = 0; p < kPages; ++p) ASSERT_EQ(t.pages()[p].count, 2 * kRounds) << "page " << p;
  EXPECT_EQ(t.counters().pushes, 2ull * kPages * kRounds);
}

TEST(TrackerBpf, EventsLandOnTheirMemslotsPages) {
  DPDC_REQUIRE(bpf);
  // RAM split around a hole: slot 0 holds pages [0, 1024), slot 1 pages [1024, 4096).
  DirtyTracker t(loaded_only(4096));
  t.set_slot(0, 0, 1024);
  t.set_slot(1, 1024, 3072);
  ASSERT_EQ(push(t, 0, 5), 0);
  ASSERT_EQ(push(t, 1, 5), 0);
  ASSERT_EQ(push(t, 1, 3071), 0);
  ASSERT_EQ(push(t, 0, 1024), 0);             // beyond slot 0
  ASSERT_EQ(push(t, 7, 3), 0);                // a slot nobody described
  ASSERT_EQ(push(t, 7, 9), 0);
  ASSERT_EQ(push(t, (1u << 16) | 0, 5), 0);   // address space 1 (SMM) is another slot

  auto pages = t.pages();
  std::vector<std::uint32_t> dirtied;
  for (std::uint32_t p = 0; p < pages.size(); ++p)
    if (pages[p].count) dirtied.push_back(p);
  EXPECT_EQ(dirtied, (std::vector<std::uint32_t>{5, 1029, 4095}));

  auto c = t.counters();
  EXPECT_EQ(c.pushes, 7u);
  EXPECT_EQ(c.out_of_range, 1u);
  EXPECT_EQ(c.unknown_slot, 3u);
  auto unknown = t.unknown_slots();
  ASSERT_EQ(unknown.size(), 2u);
  for (const auto& u : unknown) {
    if (u.slot == 7) {
      EXPECT_EQ(u.info.events, 2u);
      EXPECT_EQ(u.info.max_offset, 9u);
    } else {
      EXPECT_EQ(u.slot, 1u << 16);
      EXPECT_EQ(u.info.events, 1u);
    }
  }
}

TEST(TrackerBpf, EveryPushSetsItsPageInTheDirtyLog) {
  DPDC_REQUIRE(bpf);
  DirtyTracker t(loaded_only(200));
  t.set_slot(0, 0, 200);
  ASSERT_EQ(t.dirty_words().size(), 4u);  // ceil(200 / 64)
  for (std::uint64_t p : {0, 63, 64, 199}) ASSERT_EQ(push(t, 0, p), 0);
  std::vector<std::uint64_t> taken;
  for (auto& w : t.dirty_words()) taken.push_back(std::atomic_ref<std::uint64_t>(w).exchange(0));
  EXPECT_EQ(taken, (std::vector<std::uint64_t>{1ull | 1ull << 63, 1, 0, 1ull << (199 - 192)}));
  ASSERT_EQ(push(t, 0, 5), 0);  // after taking, only new pushes show
  EXPECT_EQ(t.dirty_words()[0], 1ull << 5);
  EXPECT_EQ(t.dirty_words()[1], 0u);
}

TEST(TrackerBpf, IgnoresOtherProcesses) {
  DPDC_REQUIRE(bpf);
  DirtyTracker t(loaded_only(16, ::getppid()));
  t.set_slot(0, 0, 16);
  ASSERT_EQ(push(t, 0, 1), 0);
  EXPECT_EQ(t.pages()[1].count, 0u);
  EXPECT_EQ(t.counters().pushes, 0u);
}

TEST(TrackerBpf, RecordsRingResetsAndFullExits) {
  DPDC_REQUIRE(bpf);
  DirtyTracker t(loaded_only(16));
  std::uint64_t ring_args[1] = {0};
  ASSERT_EQ(run_raw_tp(t.program_fd(TrackerProgram::Reset), ring_args, 1), 0);
  ASSERT_EQ(run_raw_tp(t.program_fd(TrackerProgram::Reset), ring_args, 1), 0);
  ASSERT_EQ(run_raw_tp(t.program_fd(TrackerProgram::RingFull), ring_args, 1), 0);
  auto c = t.counters();
  EXPECT_EQ(c.resets, 2u);
  EXPECT_EQ(c.full_exits, 1u);
  auto ring = t.ring(0);
  ASSERT_TRUE(ring.has_value());
  EXPECT_EQ(ring->resets, 2u);
  EXPECT_GT(ring->last_reset_ns, 0u);
}

}  // namespace
}  // namespace dpdc

namespace dpdc {
namespace {

TrackerOptions recording(std::uint32_t pages, std::uint32_t ring_bytes) {
  TrackerOptions o = loaded_only(pages);
  o.record_ring_bytes = ring_bytes;
  return o;
}

TEST(TrackerBpf, RecordsEveryEventInOrderIntoATrace) {
  DPDC_REQUIRE(bpf);
  DirtyTracker t(recording(1024, 1 << 20));
  t.set_slot(0, 0, 1024);
  std::vector<std::uint32_t> pushed;
  for (std::uint32_t i = 0; i < 3000; ++i) {
    std::uint32_t page = (i * 37) % 1024;
    ASSERT_EQ(push(t, 0, page), 0);
    pushed.push_back(page);
  }
  ASSERT_EQ(push(t, 9, 1), 0);  // unknown slot: counted, not recorded

  test::TempDir dir;
  std::string path = dir / "t.trace";
  {
    TraceRecorder rec(path, 1024, 0);
    while (t.poll_events([&](const dpdc_event& e) { rec.add(e); }, 0) > 0) {
    }
    rec.finish(monotonic_ns());
    EXPECT_EQ(rec.events(), pushed.size());
  }
  Trace trace = read_trace_file(path);
  ASSERT_EQ(trace.events.size(), pushed.size());
  for (std::size_t i = 0; i < pushed.size(); ++i) ASSERT_EQ(trace.events[i].page, pushed[i]) << i;
  EXPECT_EQ(trace.pages, 1024u);
  EXPECT_EQ(t.counters().dropped, 0u);
}

TEST(TrackerBpf, AFullRingBufferCountsWhatItDrops) {
  DPDC_REQUIRE(bpf);
  DirtyTracker t(recording(64, 4096));  // room for about 170 events
  t.set_slot(0, 0, 64);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(push(t, 0, static_cast<std::uint64_t>(i % 64)), 0);
  std::uint64_t got = 0;
  while (t.poll_events([&](const dpdc_event&) { ++got; }, 0) > 0) {
  }
  auto c = t.counters();
  EXPECT_GT(c.dropped, 0u);
  EXPECT_EQ(got + c.dropped, 1000u);
  std::uint64_t counted = 0;
  for (const auto& p : t.pages()) counted += p.count;
  EXPECT_EQ(counted, 1000u);  // the per-page history never drops
}

}  // namespace
}  // namespace dpdc
