#include "loader/proc_stat.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace dpdc {

std::optional<std::uint64_t> parse_stat_start_time(std::string_view stat) {
  auto close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // After ") " come fields 3, 4, ...; starttime is field 22.
  std::string_view rest = stat.substr(close + 1);
  int field = 2;
  std::size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    std::size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j == i) break;
    if (++field == 22) {
      std::uint64_t v = 0;
      auto [p, ec] = std::from_chars(rest.data() + i, rest.data() + j, v);
      if (ec != std::errc() || p != rest.data() + j) return std::nullopt;
      return v;
    }
    i = j;
  }
  return std::nullopt;
}

namespace {

std::optional<std::string> read_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::optional<std::uint64_t> process_start_time(pid_t pid) {
  auto stat = read_stat(pid);
  return stat ? parse_stat_start_time(*stat) : std::nullopt;
}

char parse_stat_state(std::string_view stat) {
  auto close = stat.rfind(')');
  if (close == std::string_view::npos || close + 2 >= stat.size()) return '\0';
  return stat[close + 2];
}

bool process_alive(pid_t pid) {
  auto stat = read_stat(pid);
  if (!stat) return false;
  const char state = parse_stat_state(*stat);
  return state != '\0' && state != 'Z' && state != 'X';
}

}  // namespace dpdc
