// Attach, pin, detach and the ways an engine can end: nothing may stay
// attached, and a pin left by a killed engine is removed by the next attach.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include "bpf_progs.h"
#include "dpdc/error.h"
#include "facilities.h"
#include "loader/dirty_track_loader.h"
#include "subprocess.h"

namespace dpdc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* kMaps[] = {"owner", "pages", "slots", "rings", "unknown_slots", "counters"};

class TrackerLifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    DPDC_REQUIRE(bpf);
    root_ = "/sys/fs/bpf/dpdc-test-" + std::to_string(::getpid());
    programs_before_ = test::settle_programs_named("dpdc_push", 0);
  }
  void TearDown() override {
    std::error_code ec;
    if (!root_.empty()) {
      DirtyTracker::remove_stale_pins(root_);
      fs::remove(root_, ec);
    }
  }
  TrackerOptions options(pid_t vmm) {
    TrackerOptions o;
    o.vmm_pid = vmm;
    o.pages = 1024;
    o.pin_root = root_;
    return o;
  }
  bool all_pinned(const fs::path& dir) {
    for (const char* m : kMaps)
      if (!fs::exists(dir / m)) return false;
    return true;
  }
  fs::path root_;
  int programs_before_ = 0;
};

TEST_F(TrackerLifecycle, PinsWhileAttachedNothingAfter) {
  fs::path dir;
  {
    DirtyTracker t(options(::getpid()));
    dir = t.pin_dir();
    EXPECT_EQ(dir, root_ / std::to_string(::getpid()));
    EXPECT_TRUE(all_pinned(dir));
    EXPECT_EQ(test::settle_programs_named("dpdc_push", programs_before_ + 1), programs_before_ + 1);
    EXPECT_EQ(test::settle_programs_named("dpdc_reset", 1), 1);
    // bpftool reads the pinned map's BTF and prints the record's field names.
    auto dump = test::run({"/usr/sbin/bpftool", "map", "lookup", "pinned", (dir / "pages").string(), "key", "0", "0",
                           "0", "0"});
    ASSERT_EQ(dump.code, 0) << dump.err;
    for (const char* field : {"last_ns", "prev_ns", "count", "ring_pos", "last_ring"})
      EXPECT_NE(dump.out.find(field), std::string::npos) << field << " missing in: " << dump.out;
  }
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(test::settle_programs_named("dpdc_push", programs_before_), programs_before_);
}

TEST_F(TrackerLifecycle, SigintDetachesAndUnpins) {
  test::Child holder({test::bin("tracker_holder"), std::to_string(::getpid()), "1024", root_.string()});
  ASSERT_TRUE(holder.wait_for_output("ready", 30s)) << holder.err();
  fs::path dir = root_ / std::to_string(::getpid());
  EXPECT_TRUE(all_pinned(dir));
  EXPECT_EQ(test::settle_programs_named("dpdc_push", programs_before_ + 1), programs_before_ + 1);
  holder.signal(SIGINT);
  ASSERT_EQ(holder.wait(30s), 0) << holder.err();
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(test::settle_programs_named("dpdc_push", programs_before_), programs_before_);
}

TEST_F(TrackerLifecycle, SigtermDetachesAndUnpins) {
  test::Child holder({test::bin("tracker_holder"), std::to_string(::getpid()), "1024", root_.string()});
  ASSERT_TRUE(holder.wait_for_output("ready", 30s)) << holder.err();
  holder.signal(SIGTERM);
  ASSERT_EQ(holder.wait(30s), 0) << holder.err();
  EXPECT_FALSE(fs::exists(root_ / std::to_string(::getpid())));
  EXPECT_EQ(test::settle_programs_named("dpdc_push", programs_before_), programs_before_);
}

TEST_F(TrackerLifecycle, StalePinOfKilledEngineIsRemovedByNextAttach) {
  fs::path dir = root_ / std::to_string(::getpid());
  {
    test::Child holder({test::bin("tracker_holder"), std::to_string(::getpid()), "1024", root_.string()});
    ASSERT_TRUE(holder.wait_for_output("ready", 30s)) << holder.err();
    holder.signal(SIGKILL);
    ASSERT_EQ(holder.wait(30s), 128 + SIGKILL);
  }
  // The kernel detached the programs with the process; the pins stay.
  EXPECT_EQ(test::settle_programs_named("dpdc_push", programs_before_), programs_before_);
  EXPECT_TRUE(all_pinned(dir));
  {
    DirtyTracker t(options(::getpid()));
    EXPECT_TRUE(all_pinned(dir));
  }
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(TrackerLifecycle, SecondAttachToSameVmmIsRefusedWhileFirstRuns) {
  test::Child holder({test::bin("tracker_holder"), std::to_string(::getpid()), "1024", root_.string()});
  ASSERT_TRUE(holder.wait_for_output("ready", 30s)) << holder.err();
  try {
    DirtyTracker t(options(::getpid()));
    FAIL() << "a second tracker attached to the same VMM";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Target);
    EXPECT_NE(std::string(e.what()).find("already attached"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(all_pinned(root_ / std::to_string(::getpid())));
  holder.signal(SIGINT);
  EXPECT_EQ(holder.wait(30s), 0);
}

}  // namespace
}  // namespace dpdc
