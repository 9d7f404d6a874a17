// QMP command dispatch (pure): a JSON request plus a VmControl -> JSON
// messages to send (replies and events), in QEMU's wire format.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "device_state.h"
#include "guest_layout.h"
#include "migration_hold.h"

namespace dpdc::vm {

struct MemoryInfo {
    std::uint64_t ram_size = 0;
    int memfd = -1;
    std::uint32_t vcpus = 0;
    std::uint32_t dirty_ring_entries = 0;
    std::vector<MemSlot> slots;
    std::uint64_t workload_first_page = 0;
    std::uint64_t workload_pages = 0;
};

struct HarvestReport {
    std::uint64_t pages = 0;            // all RAM pages
    std::vector<std::uint32_t> counts;  // the requested window
    std::uint64_t total = 0;
    std::uint64_t unknown = 0;
    std::uint64_t resets = 0;
    std::uint64_t full_exits = 0;
};

struct WorkloadStatus {
    std::string name;
    std::vector<std::uint64_t> rounds_done;  // per vCPU
    bool finished = false;
};

// What QMP needs from the VM. Implemented by Machine and by test fakes.
class VmControl {
public:
    virtual ~VmControl() = default;
    virtual bool running() const = 0;
    // Started with -S and not yet continued (QEMU's "prelaunch" run state).
    virtual bool prelaunch() const { return false; }
    // Waiting for an incoming migration (QEMU's "inmigrate" run state).
    virtual bool inmigrate() const { return false; }
    virtual void pause() = 0;   // returns when no vCPU is in guest mode
    virtual void resume() = 0;
    virtual void request_quit() = 0;
    virtual MemoryInfo memory_info() const = 0;
    virtual std::uint64_t ram_pages() const = 0;
    // Harvests + resets all rings, then reports counts[first, first + count).
    virtual HarvestReport harvest(std::uint64_t first, std::uint64_t count) = 0;
    virtual WorkloadStatus workload_status() const = 0;
    // The device sections of a stopped guest, in load order (machine first).
    // Only called while !running(); throws std::runtime_error if unsupported.
    virtual std::vector<DeviceSection> save_devices();
};

// The x-dpdc-save-devices reply body:
// {"machine": "dpdc-vm", "sections": [{"idstr", "instance", "version",
//   "payload": base64, "vmdesc": {...}}, ...]}
nlohmann::json save_devices_reply(const std::vector<DeviceSection>& sections);

struct QmpTimestamp {
    std::int64_t seconds = 0;
    std::int64_t microseconds = 0;
};

// Wall-clock time now, for event timestamps.
QmpTimestamp qmp_now();

// {"event": NAME, "timestamp": {...}[, "data": DATA]}
nlohmann::json qmp_event(const char* name, const QmpTimestamp& ts, nlohmann::json data = nullptr);

// One client connection's QMP state (capabilities negotiation, and whether
// it holds the guest paused for a migration).
class QmpSession {
public:
    using Clock = std::function<QmpTimestamp()>;
    // `hold` is the VMM's, shared by every session; without one the session
    // keeps its own (a VMM with one client).
    explicit QmpSession(VmControl& vm, Clock clock = {}, MigrationHold* hold = nullptr);

    static nlohmann::json greeting();

    // Handles one request; returns the messages to send, in order.
    std::vector<nlohmann::json> handle(const nlohmann::json& request);
    // Parses `text` (one JSON value) and handles it; parse errors -> GenericError.
    std::vector<nlohmann::json> handle_text(std::string_view text);

    bool negotiated() const { return negotiated_; }
    bool quit_requested() const { return quit_; }
    // The client went away. If it held the guest paused for a migration
    // that did not complete, the guest runs again; returns the messages to
    // send to the other clients (RESUME) then.
    std::vector<nlohmann::json> closed();

private:
    std::vector<nlohmann::json> dispatch(const nlohmann::json& request);
    nlohmann::json event(const char* name, nlohmann::json data = nullptr) const;

    VmControl& vm_;
    Clock clock_;
    MigrationHold own_hold_;
    MigrationHold& hold_;
    bool negotiated_ = false;
    bool quit_ = false;
};

// Serializes one message in QMP framing (JSON + "\r\n").
std::string qmp_frame(const nlohmann::json& message);

}  // namespace dpdc::vm
