#include <gtest/gtest.h>

#include <sys/wait.h>
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

TEST(ProcStat, StateIsField3AndAZombieIsNotAlive) {
  EXPECT_EQ(parse_stat_state("42 (a) b) Z 1 42"), 'Z');
  EXPECT_EQ(parse_stat_state("42 (qemu) S 1 42"), 'S');
  EXPECT_EQ(parse_stat_state("42 (cut"), '\0');
  EXPECT_TRUE(process_alive(::getpid()));
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  for (int i = 0; i < 200 && process_alive(child); ++i) ::usleep(10'000);
  EXPECT_FALSE(process_alive(child)) << "an exited, unreaped child is a zombie: gone";
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(process_alive(child));
}

TEST(ProcStat, OwnProcessHasAStartTime) { EXPECT_TRUE(process_start_time(::getpid()).has_value()); }

}  // namespace
}  // namespace dpdc
