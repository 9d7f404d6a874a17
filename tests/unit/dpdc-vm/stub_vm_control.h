// A VmControl whose run state tests can set, for the QMP tests that do not
// need a richer fake (test_vm_qmp.cpp has one that counts calls).
#pragma once

#include <cstdint>
#include <utility>

#include "qmp_commands.h"

namespace dpdc::vm::test {

class StubVm : public VmControl {
public:
    explicit StubVm(std::uint64_t pages = 0, WorkloadStatus workload = {"idle", {0}, true})
        : pages_(pages), workload_(std::move(workload))
    {
    }
    bool running() const override { return running_; }
    void pause() override { running_ = false; }
    void resume() override { running_ = true; }
    void request_quit() override {}
    MemoryInfo memory_info() const override { return {}; }
    std::uint64_t ram_pages() const override { return pages_; }
    HarvestReport harvest(std::uint64_t, std::uint64_t) override { return {}; }
    WorkloadStatus workload_status() const override { return workload_; }

    bool running_ = true;

private:
    std::uint64_t pages_;
    WorkloadStatus workload_;
};

}  // namespace dpdc::vm::test
