#include "workload/workload_spec.h"

#include <array>
#include <charconv>
#include <cmath>
#include <set>
#include <utility>

#include "workload/size_parse.h"

namespace dpdc::vm {
namespace {

struct KindInfo {
    WorkloadKind kind;
    std::string_view name;
    std::string_view keys;  // workload-specific keys, for messages
};

constexpr std::array<KindInfo, 5> kKinds{{
    {WorkloadKind::Idle, "idle", ""},
    {WorkloadKind::Ab, "ab", ""},
    {WorkloadKind::HotCold, "hotcold", "hot, writes, "},
    {WorkloadKind::Zipf, "zipf", "s, "},
    {WorkloadKind::Seq, "seq", ""},
}};

constexpr std::string_view kCommonKeys = "pages, rounds, sync, seed, delay";
constexpr std::string_view kNames = "idle, ab, hotcold, zipf, seq";

[[noreturn]] void fail(const std::string& what, std::string_view todo)
{
    throw WorkloadSpecError(what + "; " + std::string(todo));
}

std::uint64_t number(std::string_view key, std::string_view value, std::uint64_t lo, std::uint64_t hi)
{
    auto v = parse_uint(value);
    if (!v || *v < lo || *v > hi)
        fail("bad workload value " + std::string(key) + "=" + std::string(value),
             "use an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return *v;
}

double real(std::string_view key, std::string_view value)
{
    double v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || !std::isfinite(v) ||
        v <= 0 || v > 10)
        fail("bad workload value " + std::string(key) + "=" + std::string(value),
             "use a number greater than 0 and at most 10, e.g. s=1.1");
    return v;
}

}  // namespace

std::string_view workload_name(WorkloadKind kind)
{
    for (const auto& k : kKinds)
        if (k.kind == kind)
            return k.name;
    return "?";
}

std::string_view WorkloadSpec::name() const { return workload_name(kind); }

WorkloadSpec parse_workload_spec(std::string_view text)
{
    auto parts = split_commas(text);
    WorkloadSpec spec;
    const KindInfo* info = nullptr;
    for (const auto& k : kKinds)
        if (k.name == parts[0])
            info = &k;
    if (info == nullptr)
        fail("unknown workload '" + parts[0] + "'", "use one of " + std::string(kNames));
    spec.kind = info->kind;

    const std::string valid =
        "valid keys for '" + std::string(info->name) + "': " + std::string(info->keys) + std::string(kCommonKeys);
    std::set<std::string> seen;
    for (std::size_t i = 1; i < parts.size(); ++i) {
        const std::string& part = parts[i];
        auto eq = part.find('=');
        if (eq == std::string::npos || eq == 0)
            fail("workload option '" + part + "' is not key=value", valid);
        std::string key = part.substr(0, eq);
        std::string_view value = std::string_view(part).substr(eq + 1);
        if (!seen.insert(key).second)
            fail("workload key '" + key + "' given twice", "give each key once");

        if (key == "pages") {
            spec.pages = number(key, value, 1, UINT64_C(1) << 40);
        } else if (key == "rounds") {
            spec.rounds = number(key, value, 0, UINT64_C(1) << 48);
        } else if (key == "delay") {
            spec.delay = static_cast<std::uint32_t>(number(key, value, 0, 100'000'000));
        } else if (key == "seed") {
            spec.seed = number(key, value, 0, UINT64_MAX);
        } else if (key == "sync") {
            auto b = parse_bool(value);
            if (!b)
                fail("bad workload value sync=" + std::string(value), "use sync=on or sync=off");
            spec.sync = *b;
        } else if (key == "hot" && spec.kind == WorkloadKind::HotCold) {
            spec.hot_percent = static_cast<std::uint32_t>(number(key, value, 1, 100));
        } else if (key == "writes" && spec.kind == WorkloadKind::HotCold) {
            spec.write_percent = static_cast<std::uint32_t>(number(key, value, 0, 100));
        } else if (key == "s" && spec.kind == WorkloadKind::Zipf) {
            spec.zipf_s = real(key, value);
        } else {
            fail("workload '" + std::string(info->name) + "' has no key '" + key + "'", valid);
        }
    }
    return spec;
}

}  // namespace dpdc::vm
