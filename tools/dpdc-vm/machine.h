// The running VM: KVM objects, guest RAM, vCPU threads, the dirty-ring reaper
// and pause/resume/quit. Implements VmControl for QMP.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dirty_ring.h"
#include "guest_layout.h"
#include "guest_ram.h"
#include "incoming_loader.h"
#include "kvm_vm.h"
#include "options.h"
#include "qmp_commands.h"
#include "sys.h"
#include "vcpu.h"

namespace dpdc::vm {

// What x-dpdc-query-memory reports for a machine of this configuration.
MemoryInfo describe_memory(const Config& cfg, const MemoryLayout& mem, const WorkloadArea& area, int memfd);

class Machine : public VmControl {
public:
    // Opens /dev/kvm first (KvmUnavailable), then builds the whole VM. Throws
    // KvmUnsupported, dpdc::Error or LayoutError on failure.
    explicit Machine(const Config& cfg);
    // Destination of a migration: `ram` already holds the guest's memory and
    // `incoming` its device state (IncomingLoader::finish()). Creates the VM and
    // vCPUs as usual but loads no boot image: each vCPU gets the host's CPUID,
    // then Vcpu::restore(). The guest runs after start() if `autostart`, else
    // it waits paused for QMP cont. `cfg.workload` must be the stream's workload.
    Machine(const Config& cfg, GuestRam ram, const IncomingResult& incoming, bool autostart);
    ~Machine() override;
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    void start();     // starts vCPU and reaper threads
    void shutdown();  // stops and joins all threads (idempotent)

    // Readable (eventfd) when a vCPU thread hit a fatal error.
    int error_fd() const { return error_fd_.get(); }
    std::optional<std::string> fatal_error() const;

    // VmControl
    bool running() const override;
    bool prelaunch() const override;
    void pause() override;
    void resume() override;
    void request_quit() override;
    MemoryInfo memory_info() const override;
    std::uint64_t ram_pages() const override { return mem_.pages(); }
    HarvestReport harvest(std::uint64_t first, std::uint64_t count) override;
    WorkloadStatus workload_status() const override;
    // machine section first, then one section per vCPU; the guest must be paused.
    std::vector<DeviceSection> save_devices() override;

    // This machine as its dpdc-vm/machine section describes it.
    MachineState machine_state() const;

    bool quit_requested() const { return quit_requested_.load(); }

private:
    // Everything both constructors share: VM, dirty ring, irqchip, memslots.
    Machine(const Config& cfg, GuestRam ram);
    void vcpu_thread(std::uint32_t index);
    void reaper_thread();
    void reap();
    void kick_all();
    void fatal(std::uint32_t index, const std::string& what);
    // Handles a KVM exit; returns false if the vCPU must stop.
    bool handle_exit(Vcpu& vcpu);

    Config cfg_;
    MemoryLayout mem_;
    WorkloadArea area_;
    Kvm kvm_;
    KvmVm vm_;
    GuestRam ram_;
    HarvestLog tracker_;
    VcpuStateCaps caps_;
    std::vector<std::unique_ptr<Vcpu>> vcpus_;
    UniqueFd error_fd_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool pause_requested_ = false;
    bool prelaunch_ = false;
    bool stopping_ = false;
    std::uint32_t parked_ = 0;
    std::uint32_t alive_ = 0;
    std::optional<std::string> fatal_;
    std::atomic<bool> quit_requested_{false};

    std::unique_ptr<std::atomic<std::uint64_t>[]> rounds_done_;
    std::unique_ptr<std::atomic<bool>[]> finished_;

    std::vector<std::thread> threads_;
    std::thread reaper_;
    bool started_ = false;
};

}  // namespace dpdc::vm
