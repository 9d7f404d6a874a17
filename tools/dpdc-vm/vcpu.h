// One KVM vCPU: fd, kvm_run mapping, dirty-ring mapping, long-mode setup.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "boot_image.h"
#include "dirty_ring.h"
#include "kvm_vm.h"
#include "sys.h"

namespace dpdc::vm {

class Vcpu {
public:
    Vcpu(const Kvm& kvm, const KvmVm& vm, std::uint32_t index, std::uint32_t ring_entries);

    std::uint32_t index() const { return index_; }
    int fd() const { return fd_.get(); }
    kvm_run* run() const { return run_.as<kvm_run>(); }
    DirtyRingView ring_view() const;

    // KVM_SET_CPUID2, KVM_SET_SREGS (64-bit long mode), KVM_SET_REGS and, with an
    // in-kernel irqchip, KVM_SET_MP_STATE(RUNNABLE) so APs start at the entry too.
    void setup_long_mode(const std::vector<kvm_cpuid_entry2>& supported, std::uint64_t cr3, const VcpuEntry& entry,
                         bool irqchip);

private:
    std::uint32_t index_;
    std::uint32_t ring_entries_;
    UniqueFd fd_;
    Mapping run_;
    Mapping ring_;
};

// The long-mode special registers dpdc-vm uses (pure; exposed for tests).
kvm_sregs long_mode_sregs(kvm_sregs base, std::uint64_t cr3);

}  // namespace dpdc::vm
