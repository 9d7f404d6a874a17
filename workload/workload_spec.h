// --workload NAME[,key=value,...] parsing and validation (pure).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace dpdc::vm {

enum class WorkloadKind : std::uint32_t { Idle = 0, Ab = 1, HotCold = 2, Zipf = 3, Seq = 4 };

struct WorkloadSpec {
    WorkloadKind kind = WorkloadKind::Idle;
    std::uint64_t pages = 0;   // 0 = the whole workload area
    std::uint64_t rounds = 0;  // 0 = forever
    std::uint32_t delay = 0;   // PAUSE iterations after every write
    bool sync = false;
    std::uint64_t seed = 1;
    std::uint32_t hot_percent = 10;    // hotcold: hot=
    std::uint32_t write_percent = 90;  // hotcold: writes=
    double zipf_s = 1.1;               // zipf: s=

    std::string_view name() const;
};

// A bad --workload value; what() is one line naming the bad part and what to do.
class WorkloadSpecError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Parses e.g. "hotcold,hot=10,writes=90,rounds=5,sync=on". Throws WorkloadSpecError.
WorkloadSpec parse_workload_spec(std::string_view text);

std::string_view workload_name(WorkloadKind kind);

}  // namespace dpdc::vm
