// The stale-pin sweep of the next attach touches only what an engine pins:
// pid-named directories under the pin root, and in them the tracker's own
// names. Plain files stand in for pins here (no bpffs needed): bpf_obj_get
// fails on them, so every directory counts as left by a dead engine.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "loader/dirty_track_loader.h"

namespace dpdc {
namespace {

namespace fs = std::filesystem;

TEST(StalePins, OnlyTheTrackersOwnPinsInPidDirectoriesAreRemoved) {
  const fs::path root = fs::temp_directory_path() / ("dpdc-pins-" + std::to_string(::getpid()));
  fs::create_directories(root);
  auto touch = [](const fs::path& p) { std::ofstream(p) << "x"; };
  // A dead engine's pins: removed with their directory.
  fs::create_directories(root / "4194301");
  for (const char* m : {"owner", "pages", "slots", "regions", "rings", "unknown_slots", "counters"}) touch(root / "4194301" / m);
  // Pins beside a file that is not the tracker's: the pins go, the rest stays.
  fs::create_directories(root / "4194302");
  touch(root / "4194302" / "pages");
  touch(root / "4194302" / "someone-elses-map");
  // Not a pid: not an engine's, left alone.
  fs::create_directories(root / "backup");
  touch(root / "backup" / "pages");
  touch(root / "4194303");  // a file, not a directory

  auto removed = DirtyTracker::remove_stale_pins(root);
  EXPECT_EQ(removed, std::vector<fs::path>{root / "4194301"});
  EXPECT_FALSE(fs::exists(root / "4194301"));
  EXPECT_FALSE(fs::exists(root / "4194302" / "pages"));
  EXPECT_TRUE(fs::exists(root / "4194302" / "someone-elses-map"));
  EXPECT_TRUE(fs::exists(root / "backup" / "pages"));
  EXPECT_TRUE(fs::exists(root / "4194303"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace dpdc
