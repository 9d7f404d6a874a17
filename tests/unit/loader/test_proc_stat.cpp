#include <gtest/gtest.h>

#include <unistd.h>

#include "loader/proc_stat.h"

namespace dpdc {
namespace {

TEST(ProcStat, StartTimeIsField22EvenWithSpacesInComm) {
  std::string stat = "1234 (my (odd) comm) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654 1000 50";
  EXPECT_EQ(parse_stat_start_time(stat), 987654u);
  EXPECT_FALSE(parse_stat_start_time("garbage").has_value());
  EXPECT_FALSE(parse_stat_start_time("1 (x) S 1 2").has_value());
}

TEST(ProcStat, OwnProcessHasAStartTime) { EXPECT_TRUE(process_start_time(::getpid()).has_value()); }

}  // namespace
}  // namespace dpdc
