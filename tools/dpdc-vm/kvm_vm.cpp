#include "kvm_vm.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>

namespace dpdc::vm {

KvmUnavailable::KvmUnavailable(int err)
    : std::runtime_error(std::string("cannot open /dev/kvm: ") + std::strerror(err) +
                         " (KVM is not available on this host)"),
      err_(err)
{
}

Kvm::Kvm()
{
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        throw KvmUnavailable(errno);
    fd_.reset(fd);
    const int version = check(::ioctl(fd, KVM_GET_API_VERSION, 0), "KVM_GET_API_VERSION");
    if (version != KVM_API_VERSION)
        throw KvmUnsupported("KVM API version " + std::to_string(version) + " is not " +
                             std::to_string(KVM_API_VERSION) + "; use a newer kernel");
    for (auto [cap, name] : {std::pair{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
                             std::pair{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
                             std::pair{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"}}) {
        if (check_extension(cap) <= 0)
            throw KvmUnsupported(std::string("KVM lacks ") + name + "; use a newer kernel");
    }
}

int Kvm::check_extension(long cap) const
{
    return check(::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap), "KVM_CHECK_EXTENSION");
}

std::size_t Kvm::vcpu_mmap_size() const
{
    return static_cast<std::size_t>(check(::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE"));
}

std::vector<kvm_cpuid_entry2> Kvm::supported_cpuid() const
{
    for (std::uint32_t n = 128;; n *= 2) {
        std::vector<std::uint8_t> buf(sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2), 0);
        auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buf.data());
        cpuid->nent = n;
        if (::ioctl(fd_.get(), KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
            return {cpuid->entries, cpuid->entries + cpuid->nent};
        if (errno != E2BIG || n >= 4096)
            throw_errno(errno, "KVM_GET_SUPPORTED_CPUID");
    }
}

std::vector<std::uint32_t> Kvm::msr_index_list() const
{
    // First call with room for none: E2BIG and nmsrs set to the count.
    for (std::uint32_t n = 0;;) {
        std::vector<std::uint32_t> buf(1 + n, 0);  // kvm_msr_list: u32 nmsrs + u32 indices[]
        buf[0] = n;
        if (::ioctl(fd_.get(), KVM_GET_MSR_INDEX_LIST, buf.data()) == 0)
            return {buf.begin() + 1, buf.begin() + 1 + buf[0]};
        if (errno != E2BIG || buf[0] <= n || buf[0] > 65536)
            throw_errno(errno, "KVM_GET_MSR_INDEX_LIST");
        n = buf[0];
    }
}

KvmVm::KvmVm(const Kvm& kvm) : fd_(check(::ioctl(kvm.fd(), KVM_CREATE_VM, 0), "KVM_CREATE_VM")) {}

int KvmVm::check_extension(long cap) const
{
    return check(::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap), "KVM_CHECK_EXTENSION(vm)");
}

void KvmVm::enable_dirty_ring(std::uint32_t entries)
{
    long cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
    int max_bytes = check_extension(cap);
    acq_rel_ = max_bytes > 0;
    if (!acq_rel_) {
        cap = KVM_CAP_DIRTY_LOG_RING;
        max_bytes = check_extension(cap);
    }
    if (max_bytes <= 0)
        throw KvmUnsupported("this KVM does not support the dirty ring (KVM_CAP_DIRTY_LOG_RING); "
                             "use Linux 5.11 or newer on x86-64");
    const std::uint64_t bytes = std::uint64_t{entries} * sizeof(kvm_dirty_gfn);
    if (bytes > static_cast<std::uint64_t>(max_bytes))
        throw KvmUnsupported("dirty-ring-size=" + std::to_string(entries) + " exceeds this KVM's maximum of " +
                             std::to_string(static_cast<std::uint64_t>(max_bytes) / sizeof(kvm_dirty_gfn)) +
                             " entries; use a smaller -accel kvm,dirty-ring-size=N");
    kvm_enable_cap ec{};
    ec.cap = static_cast<std::uint32_t>(cap);
    ec.args[0] = bytes;
    check(::ioctl(fd_.get(), KVM_ENABLE_CAP, &ec),
          acq_rel_ ? "KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING_ACQ_REL)" : "KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING)");
}

bool KvmVm::try_create_irqchip()
{
    if (check_extension(KVM_CAP_IRQCHIP) <= 0)
        return false;
    irqchip_ = ::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) == 0;
    return irqchip_;
}

void KvmVm::set_tss_addr(std::uint64_t gpa)
{
    (void)::ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(gpa));
}

void KvmVm::set_memslot(const MemSlot& slot, void* host_base)
{
    kvm_userspace_memory_region region{};
    region.slot = slot.slot;  // address space 0
    region.flags = KVM_MEM_LOG_DIRTY_PAGES;
    region.guest_phys_addr = slot.gpa;
    region.memory_size = slot.size;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(static_cast<std::uint8_t*>(host_base) + slot.memfd_offset);
    check(::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region), "KVM_SET_USER_MEMORY_REGION");
}

void KvmVm::reset_dirty_rings() const
{
    check(::ioctl(fd_.get(), KVM_RESET_DIRTY_RINGS, 0), "KVM_RESET_DIRTY_RINGS");
}

}  // namespace dpdc::vm
