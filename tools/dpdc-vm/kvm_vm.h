// /dev/kvm and the VM file descriptor: capabilities, dirty ring, memslots.
#pragma once

#include "dpdc/kvm_uapi.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "guest_layout.h"
#include "sys.h"

namespace dpdc::vm {

// /dev/kvm cannot be opened (exit status 3).
class KvmUnavailable : public std::runtime_error {
public:
    explicit KvmUnavailable(int err);
    int code() const noexcept { return err_; }

private:
    int err_;
};

// KVM is present but cannot do what dpdc-vm needs; what() is "<what>; <what to do>".
class KvmUnsupported : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Kvm {
public:
    Kvm();  // opens /dev/kvm; throws KvmUnavailable

    int fd() const { return fd_.get(); }
    int check_extension(long cap) const;
    std::size_t vcpu_mmap_size() const;
    std::vector<kvm_cpuid_entry2> supported_cpuid() const;
    // KVM_GET_MSR_INDEX_LIST: the MSRs KVM can save and restore.
    std::vector<std::uint32_t> msr_index_list() const;

private:
    UniqueFd fd_;
};

class KvmVm {
public:
    explicit KvmVm(const Kvm& kvm);

    int fd() const { return fd_.get(); }
    int check_extension(long cap) const;

    // Enables KVM_CAP_DIRTY_LOG_RING_ACQ_REL (or KVM_CAP_DIRTY_LOG_RING) with
    // `entries` kvm_dirty_gfn per vCPU. Must precede vCPU creation.
    void enable_dirty_ring(std::uint32_t entries);
    bool dirty_ring_acq_rel() const { return acq_rel_; }

    // KVM_CREATE_IRQCHIP; returns false (and leaves the VM usable) if unsupported.
    bool try_create_irqchip();
    bool has_irqchip() const { return irqchip_; }

    // KVM_SET_TSS_ADDR (only matters on Intel without unrestricted guest):
    // 3 pages at `gpa`; the caller keeps them out of every memslot. Best effort.
    void set_tss_addr(std::uint64_t gpa);

    // KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES.
    void set_memslot(const MemSlot& slot, void* host_base);

    void reset_dirty_rings() const;

private:
    UniqueFd fd_;
    bool acq_rel_ = false;
    bool irqchip_ = false;
};

}  // namespace dpdc::vm
