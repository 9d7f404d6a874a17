// One KVM vCPU: fd, kvm_run mapping, dirty-ring mapping, long-mode setup.
#pragma once

#include "dpdc/kvm_uapi.h"

#include <cstdint>
#include <vector>

#include "boot_image.h"
#include "device_state.h"
#include "dirty_ring.h"
#include "kvm_vm.h"
#include "sys.h"

namespace dpdc::vm {

// What this host's KVM offers for saving and restoring a vCPU.
struct VcpuStateCaps {
    bool xsave = false;             // KVM_CAP_XSAVE: KVM_GET/SET_XSAVE, else KVM_GET/SET_FPU
    std::size_t xsave_bytes = 4096; // KVM_CAP_XSAVE2 size (>= 4096) when xsave2
    bool xsave2 = false;            // KVM_CAP_XSAVE2: KVM_GET_XSAVE2
    bool xcrs = false;              // KVM_CAP_XCRS
    bool irqchip = false;           // in-kernel LAPIC
    std::vector<std::uint32_t> msrs;  // msrs_to_save(KVM_GET_MSR_INDEX_LIST)
};

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

    // KVM_SET_CPUID2 from the host's supported CPUID with this vCPU's APIC id.
    void set_cpuid(const std::vector<kvm_cpuid_entry2>& supported);

    // Everything the guest needs to continue (the vCPU must not be in KVM_RUN
    // and its last exit must be completed). Throws dpdc::Error.
    VcpuState save(const VcpuStateCaps& caps) const;
    // After set_cpuid(), before the first KVM_RUN: KVM_SET_SREGS, REGS, XCRS,
    // XSAVE (or FPU), MSRS, LAPIC, MSR TSC_DEADLINE, MP_STATE, VCPU_EVENTS.
    // Throws dpdc::Error naming the ioctl, KvmUnsupported if this host cannot
    // take the state (e.g. a larger XSAVE area).
    void restore(const VcpuState& state, const VcpuStateCaps& caps);

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
