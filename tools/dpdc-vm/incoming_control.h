// The VmControl QMP talks to in a dpdc-vm started with -incoming (pure):
// while the stream loads it answers for a VM that does not exist yet
// (query-status "inmigrate"; stop/cont only decide whether the guest runs when
// the migration completes, as in QEMU); after attach() it forwards to the
// restored Machine.
#pragma once

#include <stdexcept>
#include <utility>

#include "qmp_commands.h"

namespace dpdc::vm {

class IncomingVm : public VmControl {
public:
    // `info`: this dpdc-vm's memory (the memfd the stream is loading into).
    IncomingVm(MemoryInfo info, bool autostart) : info_(std::move(info)), autostart_(autostart) {}

    void attach(VmControl& vm) { target_ = &vm; }
    bool attached() const { return target_ != nullptr; }
    // Run the guest once loaded: no -S, and no QMP stop (or a cont after it).
    bool autostart() const { return autostart_; }
    bool quit_requested() const { return quit_; }

    bool running() const override { return target_ != nullptr && target_->running(); }
    bool prelaunch() const override { return target_ != nullptr && target_->prelaunch(); }
    bool inmigrate() const override { return target_ == nullptr; }
    void pause() override
    {
        if (target_ != nullptr)
            target_->pause();
        else
            autostart_ = false;
    }
    void resume() override
    {
        if (target_ != nullptr)
            target_->resume();
        else
            autostart_ = true;
    }
    void request_quit() override
    {
        quit_ = true;
        if (target_ != nullptr)
            target_->request_quit();
    }
    MemoryInfo memory_info() const override { return target_ != nullptr ? target_->memory_info() : info_; }
    std::uint64_t ram_pages() const override
    {
        return target_ != nullptr ? target_->ram_pages() : info_.ram_size / kPageSize;
    }
    HarvestReport harvest(std::uint64_t first, std::uint64_t count) override
    {
        if (target_ == nullptr)
            throw std::runtime_error("no dirty pages yet: an incoming migration is in progress");
        return target_->harvest(first, count);
    }
    WorkloadStatus workload_status() const override
    {
        if (target_ == nullptr)
            throw std::runtime_error("no workload yet: an incoming migration is in progress");
        return target_->workload_status();
    }
    std::vector<DeviceSection> save_devices() override
    {
        if (target_ == nullptr)
            throw std::runtime_error("no guest to save: an incoming migration is in progress");
        return target_->save_devices();
    }

private:
    MemoryInfo info_;
    bool autostart_;
    bool quit_ = false;
    VmControl* target_ = nullptr;
};

}  // namespace dpdc::vm
