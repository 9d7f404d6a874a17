#include "qmp_commands.h"

#include <sys/time.h>

#include <set>
#include <stdexcept>

#include "dpdc/peer_json.h"
#include "stream/base64.h"  // dpdc_stream's (RFC 4648): the engine decodes with the same code

namespace dpdc::vm {
namespace {

using nlohmann::json;

json error_reply(const char* cls, const std::string& desc)
{
    return json{{"error", {{"class", cls}, {"desc", desc}}}};
}

// Rejects arguments other than `allowed` the way QEMU does.
std::string unexpected_argument(const json& args, const std::set<std::string>& allowed)
{
    for (const auto& [key, value] : args.items())
        if (!allowed.contains(key))
            return "Parameter '" + key + "' is unexpected";
    return {};
}

// Reads an optional non-negative integer argument.
bool read_uint(const json& args, const char* key, std::uint64_t& out, std::string& err)
{
    auto it = args.find(key);
    if (it == args.end())
        return true;
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0)) {
        err = std::string("Parameter '") + key + "' expects uint64";
        return false;
    }
    out = it->get<std::uint64_t>();
    return true;
}

}  // namespace

std::vector<DeviceSection> VmControl::save_devices()
{
    throw std::runtime_error("x-dpdc-save-devices is not supported by this VM");
}

json save_devices_reply(const std::vector<DeviceSection>& sections)
{
    json list = json::array();
    for (const auto& s : sections)
        list.push_back({{"idstr", s.idstr},
                        {"instance", s.instance},
                        {"version", s.version},
                        {"payload", stream::base64_encode(s.payload)},
                        {"vmdesc", s.vmdesc}});
    return json{{"machine", std::string(kStreamMachineName)}, {"sections", std::move(list)}};
}

QmpTimestamp qmp_now()
{
    timeval tv{};
    ::gettimeofday(&tv, nullptr);
    return {static_cast<std::int64_t>(tv.tv_sec), static_cast<std::int64_t>(tv.tv_usec)};
}

json qmp_event(const char* name, const QmpTimestamp& ts, json data)
{
    json ev{{"event", name}, {"timestamp", {{"seconds", ts.seconds}, {"microseconds", ts.microseconds}}}};
    if (!data.is_null())
        ev["data"] = std::move(data);
    return ev;
}

QmpSession::QmpSession(VmControl& vm, Clock clock, MigrationHold* hold)
    : vm_(vm), clock_(clock ? std::move(clock) : Clock(qmp_now)), hold_(hold ? *hold : own_hold_)
{
}

std::vector<json> QmpSession::closed()
{
    if (!hold_.released(this) || vm_.running())
        return {};
    vm_.resume();
    return {event("RESUME")};
}

json QmpSession::greeting()
{
    return json{{"QMP",
                 {{"version", {{"qemu", {{"micro", 0}, {"minor", 1}, {"major", 0}}}, {"package", "dpdc-vm"}}},
                  {"capabilities", json::array()}}}};
}

json QmpSession::event(const char* name, json data) const
{
    return qmp_event(name, clock_(), std::move(data));
}

std::vector<json> QmpSession::handle_text(std::string_view text)
{
    json request;
    try {
        request = dpdc::parse_peer_json(text);
    } catch (const dpdc::PeerJsonError& e) {
        return {error_reply("GenericError", std::string("JSON parse error: ") + e.what())};
    }
    return handle(request);
}

std::vector<json> QmpSession::handle(const json& request)
{
    try {
        return dispatch(request);
    } catch (const std::exception& e) {
        json r = error_reply("GenericError", e.what());
        if (request.is_object() && request.contains("id"))
            r["id"] = request["id"];
        return {r};
    }
}

std::vector<json> QmpSession::dispatch(const json& request)
{
    std::vector<json> out;
    if (!request.is_object()) {
        out.push_back(error_reply("GenericError", "QMP input must be a JSON object"));
        return out;
    }
    const json* id = nullptr;
    if (auto it = request.find("id"); it != request.end())
        id = &*it;
    auto reply = [&](json r) {
        if (id != nullptr)
            r["id"] = *id;
        return r;
    };

    auto exec = request.find("execute");
    if (exec == request.end()) {
        out.push_back(reply(error_reply("GenericError", "QMP input lacks member 'execute'")));
        return out;
    }
    if (!exec->is_string()) {
        out.push_back(reply(error_reply("GenericError", "QMP input member 'execute' must be a string")));
        return out;
    }
    for (const auto& [key, value] : request.items()) {
        if (key != "execute" && key != "arguments" && key != "id") {
            out.push_back(reply(error_reply("GenericError", "QMP input member '" + key + "' is unexpected")));
            return out;
        }
    }
    json args = json::object();
    if (auto a = request.find("arguments"); a != request.end()) {
        if (!a->is_object()) {
            out.push_back(reply(error_reply("GenericError", "QMP input member 'arguments' must be an object")));
            return out;
        }
        args = *a;
    }
    const std::string name = exec->get<std::string>();

    if (!negotiated_ && name != "qmp_capabilities") {
        out.push_back(
            reply(error_reply("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'")));
        return out;
    }

    static const std::set<std::string> kNoArgs;
    auto check_args = [&](const std::set<std::string>& allowed) {
        std::string err = unexpected_argument(args, allowed);
        if (!err.empty())
            out.push_back(reply(error_reply("GenericError", err)));
        return err.empty();
    };

    if (name == "qmp_capabilities") {
        if (negotiated_) {
            out.push_back(reply(
                error_reply("CommandNotFound", "Capabilities negotiation is already complete, command ignored")));
        } else if (check_args({"enable"})) {
            negotiated_ = true;
            out.push_back(reply(json{{"return", json::object()}}));
        }
    } else if (name == "query-status") {
        if (check_args(kNoArgs)) {
            const bool running = vm_.running();
            const char* status = running               ? "running"
                                 : vm_.inmigrate()    ? "inmigrate"
                                 : vm_.prelaunch()    ? "prelaunch"
                                 : hold_.completed() ? "postmigrate"
                                                      : "paused";
            out.push_back(reply(json{
                {"return", {{"status", status}, {"running", running}, {"singlestep", false}}}}));
        }
    } else if (name == "stop" || name == "x-dpdc-migration-stop") {
        if (check_args(kNoArgs)) {
            if (name == "stop") {
                hold_.taken_over();
            } else if (!vm_.running() && !hold_.held()) {
                // Paused by hand (or never started): a migration that goes
                // away must not start it.
                out.push_back(reply(error_reply("GenericError", "the guest is not running; resume it (cont) "
                                                                "before migrating it")));
                return out;
            } else {
                hold_.paused_for_migration(this);
            }
            const bool was_running = vm_.running();
            vm_.pause();
            if (was_running)
                out.push_back(event("STOP"));
            out.push_back(reply(json{{"return", json::object()}}));
        }
    } else if (name == "x-dpdc-migration-complete") {
        if (check_args(kNoArgs)) {
            if (hold_.complete(this))
                out.push_back(reply(json{{"return", json::object()}}));
            else
                out.push_back(reply(error_reply("GenericError", "this client did not pause the guest for a "
                                                                "migration (x-dpdc-migration-stop)")));
        }
    } else if (name == "cont") {
        if (check_args(kNoArgs)) {
            hold_.taken_over();
            const bool was_running = vm_.running();
            const bool incoming = vm_.inmigrate();  // cont only asks to run once the migration is done
            vm_.resume();
            if (!was_running && !incoming)
                out.push_back(event("RESUME"));
            out.push_back(reply(json{{"return", json::object()}}));
        }
    } else if (name == "quit") {
        if (check_args(kNoArgs)) {
            quit_ = true;
            vm_.request_quit();
            out.push_back(reply(json{{"return", json::object()}}));
            out.push_back(event("SHUTDOWN", json{{"guest", false}, {"reason", "host-qmp-quit"}}));
        }
    } else if (name == "x-dpdc-query-memory") {
        if (check_args(kNoArgs)) {
            const MemoryInfo m = vm_.memory_info();
            json slots = json::array();
            for (const auto& s : m.slots)
                slots.push_back({{"slot", s.slot},
                                 {"as", 0},
                                 {"gpa", s.gpa},
                                 {"size", s.size},
                                 {"memfd-offset", s.memfd_offset},
                                 {"first-page", s.first_page()}});
            out.push_back(reply(json{{"return",
                                      {{"page-size", kPageSize},
                                       {"ram-size", m.ram_size},
                                       {"pages", m.ram_size / kPageSize},
                                       {"memfd", m.memfd},
                                       {"vcpus", m.vcpus},
                                       {"dirty-ring-size", m.dirty_ring_entries},
                                       {"slots", std::move(slots)},
                                       {"workload-area",
                                        {{"first-page", m.workload_first_page}, {"pages", m.workload_pages}}}}}}));
        }
    } else if (name == "x-dpdc-query-harvest") {
        if (check_args({"first-page", "count"})) {
            const std::uint64_t pages = vm_.ram_pages();
            std::uint64_t first = 0;
            std::uint64_t count = UINT64_MAX;
            std::string err;
            if (!read_uint(args, "first-page", first, err) || !read_uint(args, "count", count, err)) {
                out.push_back(reply(error_reply("GenericError", err)));
            } else if (first > pages || (args.contains("count") && count > pages - first)) {
                out.push_back(reply(error_reply(
                    "GenericError", "Window first-page=" + std::to_string(first) + " count=" +
                                        (args.contains("count") ? std::to_string(count) : std::string("(rest)")) +
                                        " is outside the " + std::to_string(pages) + " pages of RAM")));
            } else {
                if (!args.contains("count"))
                    count = pages - first;
                HarvestReport h = vm_.harvest(first, count);
                out.push_back(reply(json{{"return",
                                          {{"pages", h.pages},
                                           {"counts", std::move(h.counts)},
                                           {"total", h.total},
                                           {"unknown", h.unknown},
                                           {"resets", h.resets},
                                           {"full-exits", h.full_exits}}}}));
            }
        }
    } else if (name == "x-dpdc-save-devices") {
        if (check_args(kNoArgs)) {
            if (vm_.inmigrate())
                out.push_back(reply(error_reply("GenericError", "no guest to save: an incoming migration is in progress")));
            else if (vm_.running())
                out.push_back(reply(error_reply("GenericError", "the guest must be stopped")));
            else
                out.push_back(reply(json{{"return", save_devices_reply(vm_.save_devices())}}));
        }
    } else if (name == "x-dpdc-query-workload") {
        if (check_args(kNoArgs)) {
            const WorkloadStatus w = vm_.workload_status();
            out.push_back(reply(
                json{{"return", {{"name", w.name}, {"rounds-done", w.rounds_done}, {"finished", w.finished}}}}));
        }
    } else {
        out.push_back(reply(error_reply("CommandNotFound", "The command " + name + " has not been found")));
    }
    return out;
}

std::string qmp_frame(const json& message)
{
    return message.dump(-1, ' ', false, json::error_handler_t::replace) + "\r\n";
}

}  // namespace dpdc::vm
