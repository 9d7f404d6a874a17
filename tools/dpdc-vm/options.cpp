#include "options.h"

#include "dpdc/error.h"
#include "stream/destination.h"

#include <CLI/CLI.hpp>
#include <array>
#include <stdexcept>
#include <string_view>

#include "incoming_source.h"
#include "workload/size_parse.h"

namespace dpdc::vm {
namespace {

constexpr std::uint32_t kMaxDirtyRingEntries = 65536;  // KVM_DIRTY_RING_MAX_ENTRIES
constexpr std::uint32_t kMinDirtyRingEntries = 256;     // ring must be at least one 4K page

[[noreturn]] void bad(const std::string& what, const std::string& todo)
{
    throw std::invalid_argument(what + "; " + todo);
}

bool is_power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

std::vector<std::string> normalize_args(const std::vector<std::string>& args)
{
    static constexpr std::array<std::string_view, 5> kLong{"smp", "accel", "qmp", "incoming", "pidfile"};
    std::vector<std::string> out;
    out.reserve(args.size());
    bool passthrough = false;
    for (const auto& a : args) {
        if (passthrough || a == "--") {
            passthrough = true;
            out.push_back(a);
            continue;
        }
        std::string mapped = a;
        if (a.size() > 2 && a[0] == '-' && a[1] != '-') {
            std::string_view body = std::string_view(a).substr(1);
            std::string_view name = body.substr(0, body.find('='));
            for (auto l : kLong)
                if (name == l)
                    mapped = "-" + a;
        }
        out.push_back(std::move(mapped));
    }
    return out;
}

std::uint64_t parse_memory_option(const std::string& value)
{
    std::string_view v = value;
    if (v.starts_with("size="))
        v.remove_prefix(5);
    auto size = parse_size(v, MiB);
    if (!size || v.find(',') != std::string_view::npos)
        bad("bad memory size '" + value + "'", "use e.g. -m 256M, -m 1G or -m 512 (MiB)");
    if (*size < layout::kMinRam)
        bad("memory size '" + value + "' is below 4M", "use -m 4M or more, e.g. -m 256M");
    if (*size > layout::kMaxRam)
        bad("memory size '" + value + "' is above 64G", "use -m 64G or less");
    if (*size % (2 * MiB) != 0)
        bad("memory size '" + value + "' is not a multiple of 2M", "round -m to a multiple of 2M, e.g. -m 256M");
    return *size;
}

std::uint32_t parse_smp_option(const std::string& value)
{
    std::string_view v = value;
    if (v.starts_with("cpus="))
        v.remove_prefix(5);
    auto n = parse_uint(v);
    if (!n)
        bad("bad -smp value '" + value + "'", "use -smp N with N from 1 to 8, e.g. -smp 2");
    if (*n < 1 || *n > layout::kMaxVcpus)
        bad("-smp " + value + " is out of range", "use -smp N with N from 1 to 8");
    return static_cast<std::uint32_t>(*n);
}

std::uint32_t parse_accel_option(const std::string& value)
{
    auto parts = split_commas(value);
    if (parts[0] != "kvm")
        bad("accelerator '" + parts[0] + "' is not supported", "use -accel kvm[,dirty-ring-size=N]");
    std::uint32_t entries = 4096;
    for (std::size_t i = 1; i < parts.size(); ++i) {
        const std::string& p = parts[i];
        if (!p.starts_with("dirty-ring-size="))
            bad("unknown -accel property '" + p + "'", "use -accel kvm,dirty-ring-size=N");
        auto n = parse_uint(std::string_view(p).substr(16));
        if (!n)
            bad("bad dirty-ring-size in '" + p + "'", "use a power of two such as dirty-ring-size=4096");
        if (*n == 0)
            bad("dirty-ring-size=0 disables the dirty ring, which dpdc-vm needs",
                "use a power of two from 256 to 65536, e.g. dirty-ring-size=4096");
        if (!is_power_of_two(*n) || *n < kMinDirtyRingEntries || *n > kMaxDirtyRingEntries)
            bad("dirty-ring-size=" + std::to_string(*n) + " is not a power of two from 256 to 65536",
                "use e.g. dirty-ring-size=4096");
        entries = static_cast<std::uint32_t>(*n);
    }
    return entries;
}

std::string parse_qmp_option(const std::string& value)
{
    const std::string todo = "use -qmp unix:PATH,server=on,wait=off";
    auto parts = split_commas(value);
    if (!parts[0].starts_with("unix:") || parts[0].size() == 5)
        bad("unsupported -qmp address '" + parts[0] + "'", todo);
    for (std::size_t i = 1; i < parts.size(); ++i) {
        std::string_view p = parts[i];
        if (p == "server" || p == "nowait")
            continue;  // legacy QEMU spellings of server=on / wait=off
        const auto eq = p.find('=');
        const std::string_view key = p.substr(0, eq);
        if (eq == std::string_view::npos || (key != "server" && key != "wait"))
            bad("unsupported -qmp option '" + std::string(p) + "'", todo);
        const std::optional<bool> val = parse_bool(p.substr(eq + 1));
        if (!val.has_value())
            bad("unsupported -qmp option '" + std::string(p) + "'", todo);
        const bool on = val.value_or(false);
        if (key == "server" && !on)
            bad("-qmp server=off (client mode) is not supported", todo);
        if (key == "wait" && on)
            bad("-qmp wait=on is not supported", todo);
    }
    return parts[0].substr(5);
}

MemHole parse_hole_option(const std::string& value)
{
    auto parts = split_commas(value);
    const std::string todo = "use --hole START,SIZE, e.g. --hole 8M,1M";
    if (parts.size() != 2)
        bad("bad --hole '" + value + "'", todo);
    auto start = parse_size(parts[0], MiB);
    auto size = parse_size(parts[1], MiB);
    if (!start || !size)
        bad("bad --hole '" + value + "'", todo);
    return {*start, *size};
}

ParseOutcome parse_options(const std::vector<std::string>& raw_args)
{
    ParseOutcome out;
    Config& cfg = out.config;
    std::string mem = "256M", smp = "1", accel = "kvm", qmp, hole, workload = "idle", incoming, pidfile;
    std::string reap = "100";

    CLI::App app{
        "dpdc-vm: a micro-VMM for dpdc. Runs a KVM guest with long-mode workloads, tracks dirty\n"
        "pages with the KVM dirty ring and speaks a QEMU-compatible QMP subset.\n"
        "QEMU-style single-dash options (-m, -smp, -accel, -qmp, -incoming, -pidfile) are accepted.",
        "dpdc-vm"};
    app.get_formatter()->column_width(34);
    app.add_option("-m,--memory", mem,
                   "Guest RAM size, QEMU syntax (plain number = MiB), multiple of 2M, 4M..64G. "
                   "Default 256M. Example: -m 1G")
        ->type_name("SIZE");
    app.add_option("--smp", smp, "Number of vCPUs, 1..8 (default 1). Example: -smp 4")
        ->type_name("N");
    app.add_option("--accel", accel,
                   "Accelerator: kvm[,dirty-ring-size=N], N = ring entries per vCPU, power of two "
                   "256..65536 (default 4096). Example: -accel kvm,dirty-ring-size=1024")
        ->type_name("ACCEL");
    app.add_option("--qmp", qmp,
                   "QMP server socket: unix:PATH[,server=on][,wait=off]. "
                   "Example: -qmp unix:/tmp/vm.qmp,server=on,wait=off")
        ->type_name("ADDRESS");
    auto* workload_opt = app.add_option("--workload", workload,
                   "Guest workload NAME[,key=value...]: idle | ab | hotcold[,hot=10,writes=90] | "
                   "zipf[,s=1.1] | seq; common keys pages=N, rounds=N, sync=on|off, seed=N. "
                   "Example: --workload hotcold,hot=10,writes=90,rounds=5,sync=on")
        ->type_name("SPEC");
    app.add_option("--hole", hole,
                   "Force a GPA hole START,SIZE (QEMU sizes, plain number = MiB, 4K aligned, START >= 4M): RAM above START "
                   "moves to a second memslot at START+SIZE. Default: 1G hole at 3G if RAM > 3G. "
                   "Example: --hole 8M,1M")
        ->type_name("START,SIZE");
    app.add_option("--reap-interval", reap,
                   "Dirty-ring reaper period in ms (default 100, 0 = only on ring-full/sync/QMP). "
                   "Ignored with sync=on (rings are reaped at each round end). Example: --reap-interval 50")
        ->type_name("MS");
    app.add_option("--pidfile", pidfile, "Write the process id to FILE (removed at exit). Example: -pidfile /tmp/vm.pid")
        ->type_name("FILE");
    app.add_flag("-S", cfg.start_paused,
                 "Do not start the vCPUs until QMP 'cont' (QEMU's -S; query-status says prelaunch)");
    app.add_option("--incoming", incoming,
                   "Wait for a migration stream (QEMU syntax): tcp:HOST:PORT or unix:PATH (accept one "
                   "connection) or file:PATH; the guest runs once the whole stream has loaded. "
                   "Example: -incoming tcp:0:4444")
        ->type_name("URI");

    std::vector<std::string> args = normalize_args(raw_args);
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 consumes from the back
    try {
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        out.kind = ParseOutcome::Kind::Help;
        out.text = app.help();
        return out;
    } catch (const CLI::ParseError& e) {
        out.kind = ParseOutcome::Kind::Error;
        std::string msg = e.what();
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
            msg.pop_back();
        for (auto& c : msg)
            if (c == '\n')
                c = ' ';
        out.text = msg + "; run dpdc-vm --help for the options";
        return out;
    }

    try {
        cfg.ram_size = parse_memory_option(mem);
        cfg.vcpus = parse_smp_option(smp);
        cfg.dirty_ring_entries = parse_accel_option(accel);
        if (!qmp.empty())
            cfg.qmp_path = parse_qmp_option(qmp);
        if (!hole.empty())
            cfg.hole = parse_hole_option(hole);
        cfg.workload = parse_workload_spec(workload);
        cfg.workload_given = workload_opt->count() > 0;
        const auto ms = parse_uint(reap);
        if (!ms || *ms > 60000)
            bad("bad --reap-interval '" + reap + "'", "use milliseconds from 0 to 60000, e.g. --reap-interval 100");
        cfg.reap_interval_ms = static_cast<std::uint32_t>(*ms);
        if (!pidfile.empty())
            cfg.pidfile = pidfile;
        if (!incoming.empty()) {
            try {
                (void)Destination::parse(incoming, Destination::Role::Listen);
            } catch (const dpdc::Error& e) {
                throw std::invalid_argument(e.what());
            }
            cfg.incoming = incoming;
        }
        // Validate the memory and workload layout now so errors exit with usage status.
        const MemoryLayout memory = plan_memory(cfg.ram_size, cfg.hole);
        (void)plan_workload_area(memory, cfg.workload.pages, cfg.vcpus);
    } catch (const std::invalid_argument& e) {
        out.kind = ParseOutcome::Kind::Error;
        out.text = e.what();
    }
    return out;
}

}  // namespace dpdc::vm
