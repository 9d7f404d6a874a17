// dpdc-vm command line -> Config (pure; no KVM, no files touched).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "guest_layout.h"
#include "workload/workload_spec.h"

namespace dpdc::vm {

struct Config {
    std::uint64_t ram_size = 256 * MiB;
    std::uint32_t vcpus = 1;
    std::uint32_t dirty_ring_entries = 4096;  // per vCPU
    std::optional<MemHole> hole;               // --hole; nullopt = PC-like default
    std::optional<std::string> qmp_path;       // -qmp unix:PATH,server=on,wait=off
    WorkloadSpec workload;
    bool workload_given = false;               // --workload was on the command line
    std::uint32_t reap_interval_ms = 100;      // 0 = no periodic reaper
    std::optional<std::string> pidfile;
    std::optional<std::string> incoming;       // -incoming tcp:HOST:PORT | unix:PATH | file:PATH
    bool start_paused = false;                 // -S: vCPUs wait for QMP "cont"
};

struct ParseOutcome {
    enum class Kind { Run, Help, Error };
    Kind kind = Kind::Run;
    Config config;
    std::string text;  // Help: the help text; Error: "<what is wrong>; <what to do>"
};

// QEMU single-dash long options (-smp, -accel, -qmp, -incoming, -pidfile) ->
// "--name"; "-m" stays. Arguments after "--" are not touched.
std::vector<std::string> normalize_args(const std::vector<std::string>& args);

// `args` excludes argv[0]. Never throws for bad input; reports it as Kind::Error.
ParseOutcome parse_options(const std::vector<std::string>& args);

// Value parsers (exposed for tests); each throws std::invalid_argument with a
// "<what>; <what to do>" message.
std::uint64_t parse_memory_option(const std::string& value);
std::uint32_t parse_smp_option(const std::string& value);
std::uint32_t parse_accel_option(const std::string& value);  // returns dirty-ring-size
std::string parse_qmp_option(const std::string& value);      // returns the socket path
MemHole parse_hole_option(const std::string& value);

}  // namespace dpdc::vm
