#pragma once
// What /proc says about a process, as far as the loader needs it.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace dpdc {

// starttime (field 22 of /proc/<pid>/stat): with the pid it names one
// process for its whole life, so a reused pid is not mistaken for it.
std::optional<std::uint64_t> process_start_time(pid_t pid);

// Parses the text of /proc/<pid>/stat; the command may contain spaces and ')'.
std::optional<std::uint64_t> parse_stat_start_time(std::string_view stat);

// Whether the process exists and has not exited: a zombie (state Z or X in
// field 3) is gone although its pid still answers until its parent reaps it.
bool process_alive(pid_t pid);
// Field 3 of /proc/<pid>/stat, the state letter; '\0' if unreadable.
char parse_stat_state(std::string_view stat);

}  // namespace dpdc
