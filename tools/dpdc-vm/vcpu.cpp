#include "vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace dpdc::vm {
namespace {

constexpr std::uint64_t kCr0Pe = 1ull << 0, kCr0Mp = 1ull << 1, kCr0Et = 1ull << 4, kCr0Ne = 1ull << 5,
                        kCr0Wp = 1ull << 16, kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pae = 1ull << 5, kCr4Osfxsr = 1ull << 9, kCr4Osxmmexcpt = 1ull << 10;
constexpr std::uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

kvm_segment code_segment()
{
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = layout::kCodeSelector;
    s.type = 11;  // execute/read, accessed
    s.present = 1;
    s.dpl = 0;
    s.db = 0;
    s.s = 1;
    s.l = 1;
    s.g = 1;
    return s;
}

kvm_segment data_segment()
{
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = layout::kDataSelector;
    s.type = 3;  // read/write, accessed
    s.present = 1;
    s.dpl = 0;
    s.db = 1;
    s.s = 1;
    s.l = 0;
    s.g = 1;
    return s;
}

}  // namespace

kvm_sregs long_mode_sregs(kvm_sregs sregs, std::uint64_t cr3)
{
    sregs.cs = code_segment();
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data_segment();

    kvm_segment tr{};
    tr.base = layout::kTssGpa;
    tr.limit = layout::kTssLimit;
    tr.selector = layout::kTssSelector;
    tr.type = 11;  // 64-bit busy TSS
    tr.present = 1;
    tr.s = 0;
    sregs.tr = tr;

    kvm_segment ldt{};
    ldt.type = 2;
    ldt.present = 1;
    ldt.unusable = 1;
    sregs.ldt = ldt;

    sregs.gdt.base = layout::kGdtGpa;
    sregs.gdt.limit = static_cast<std::uint16_t>(layout::kGdtEntries * 8 - 1);
    sregs.idt.base = 0;
    sregs.idt.limit = 0;  // any exception -> triple fault -> KVM_EXIT_SHUTDOWN

    sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
    sregs.cr3 = cr3;
    sregs.cr4 = kCr4Pae | kCr4Osfxsr | kCr4Osxmmexcpt;
    sregs.efer = kEferLme | kEferLma;
    return sregs;
}

Vcpu::Vcpu(const Kvm& kvm, const KvmVm& vm, std::uint32_t index, std::uint32_t ring_entries)
    : index_(index),
      ring_entries_(ring_entries),
      fd_(check(::ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(index)), "KVM_CREATE_VCPU"))
{
    run_ = Mapping(kvm.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0, "mmap(kvm_run)");
    const long page = ::sysconf(_SC_PAGESIZE);
    ring_ = Mapping(std::size_t{ring_entries} * sizeof(kvm_dirty_gfn), PROT_READ | PROT_WRITE, MAP_SHARED,
                    fd_.get(), page * KVM_DIRTY_LOG_PAGE_OFFSET, "mmap(dirty ring)");
}

DirtyRingView Vcpu::ring_view() const
{
    DirtyRingView v;
    v.gfns = ring_.as<kvm_dirty_gfn>();
    v.entries = ring_entries_;
    v.fetch = 0;
    return v;
}

void Vcpu::setup_long_mode(const std::vector<kvm_cpuid_entry2>& supported, std::uint64_t cr3,
                           const VcpuEntry& entry, bool irqchip)
{
    std::vector<std::uint8_t> buf(sizeof(kvm_cpuid2) + supported.size() * sizeof(kvm_cpuid_entry2), 0);
    auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buf.data());
    cpuid->nent = static_cast<std::uint32_t>(supported.size());
    for (std::size_t i = 0; i < supported.size(); ++i) {
        kvm_cpuid_entry2 e = supported[i];
        if (e.function == 1)
            e.ebx = (e.ebx & 0x00ffffffu) | (index_ << 24);  // initial APIC id
        if (e.function == 0xb || e.function == 0x1f)
            e.edx = index_;  // x2APIC id
        cpuid->entries[i] = e;
    }
    check(::ioctl(fd_.get(), KVM_SET_CPUID2, cpuid), "KVM_SET_CPUID2");

    kvm_sregs sregs{};
    check(::ioctl(fd_.get(), KVM_GET_SREGS, &sregs), "KVM_GET_SREGS");
    sregs = long_mode_sregs(sregs, cr3);
    check(::ioctl(fd_.get(), KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");

    kvm_regs regs{};
    regs.rip = entry.rip;
    regs.rsp = entry.rsp;
    regs.rdi = entry.rdi;
    regs.rsi = entry.rsi;
    regs.rflags = entry.rflags;
    check(::ioctl(fd_.get(), KVM_SET_REGS, &regs), "KVM_SET_REGS");

    if (irqchip) {
        kvm_mp_state mp{};
        mp.mp_state = KVM_MP_STATE_RUNNABLE;
        check(::ioctl(fd_.get(), KVM_SET_MP_STATE, &mp), "KVM_SET_MP_STATE");
    }
}

}  // namespace dpdc::vm
