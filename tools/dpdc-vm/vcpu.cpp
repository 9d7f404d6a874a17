#include "vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace dpdc::vm {
namespace {

constexpr std::uint64_t kCr0Pe = 1ull << 0, kCr0Mp = 1ull << 1, kCr0Et = 1ull << 4, kCr0Ne = 1ull << 5,
                        kCr0Wp = 1ull << 16, kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pae = 1ull << 5, kCr4Osfxsr = 1ull << 9, kCr4Osxmmexcpt = 1ull << 10;
constexpr std::uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

// A present ring-0 code or data segment over the whole 4 GiB (base 0,
// page granular).
kvm_segment flat_segment(std::uint16_t selector, std::uint8_t type, std::uint8_t db, std::uint8_t l)
{
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = db;
    s.s = 1;
    s.l = l;
    s.g = 1;
    return s;
}

// 64-bit code: execute/read, accessed; L set, D clear.
kvm_segment code_segment() { return flat_segment(layout::kCodeSelector, 11, 0, 1); }
// Data: read/write, accessed; B (db) set.
kvm_segment data_segment() { return flat_segment(layout::kDataSelector, 3, 1, 0); }

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

void Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& supported)
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
}

void Vcpu::setup_long_mode(const std::vector<kvm_cpuid_entry2>& supported, std::uint64_t cr3,
                           const VcpuEntry& entry, bool irqchip)
{
    set_cpuid(supported);

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

namespace {

std::string msr_hex(std::uint32_t index)
{
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%x", index);
    return buf;
}

// A kvm_msrs with `n` entries (flexible array) in 8-byte-aligned storage.
struct MsrBuffer {
    explicit MsrBuffer(std::size_t n)
        : words((sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry) + 7) / 8, 0)
    {
        get()->nmsrs = static_cast<std::uint32_t>(n);
    }
    kvm_msrs* get() { return reinterpret_cast<kvm_msrs*>(words.data()); }
    std::vector<std::uint64_t> words;
};

void set_msrs(int fd, const std::vector<MsrValue>& msrs, const char* what)
{
    if (msrs.empty())
        return;
    MsrBuffer buf(msrs.size());
    for (std::size_t i = 0; i < msrs.size(); ++i) {
        buf.get()->entries[i].index = msrs[i].index;
        buf.get()->entries[i].data = msrs[i].value;
    }
    const int n = check(::ioctl(fd, KVM_SET_MSRS, buf.get()), what);
    if (static_cast<std::size_t>(n) < msrs.size())
        throw KvmUnsupported(std::string(what) + ": this host's KVM refused MSR " + msr_hex(msrs[n].index) + " = " +
                             std::to_string(msrs[n].value) + "; migrate between hosts with the same CPU features");
}

}  // namespace

VcpuState Vcpu::save(const VcpuStateCaps& caps) const
{
    const int fd = fd_.get();
    VcpuState s;
    check(::ioctl(fd, KVM_GET_REGS, &s.regs), "KVM_GET_REGS");
    check(::ioctl(fd, KVM_GET_SREGS, &s.sregs), "KVM_GET_SREGS");

    if (caps.xsave) {
        // kvm_xsave is a u32 array: keep the buffer 4-byte aligned.
        const std::size_t bytes = std::max<std::size_t>(kXsaveMinBytes, caps.xsave2 ? caps.xsave_bytes : 0);
        std::vector<std::uint32_t> area(bytes / 4, 0);
        check(::ioctl(fd, caps.xsave2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, area.data()),
              caps.xsave2 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE");
        s.fpu_format = FpuFormat::Xsave;
        s.xsave.resize(area.size() * 4);
        std::memcpy(s.xsave.data(), area.data(), s.xsave.size());
    } else {
        s.fpu_format = FpuFormat::Fpu;
        check(::ioctl(fd, KVM_GET_FPU, &s.fpu), "KVM_GET_FPU");
    }

    if (caps.xcrs) {
        kvm_xcrs x{};
        check(::ioctl(fd, KVM_GET_XCRS, &x), "KVM_GET_XCRS");
        for (std::uint32_t i = 0; i < std::min<std::uint32_t>(x.nr_xcrs, KVM_MAX_XCRS); ++i)
            s.xcrs.emplace_back(x.xcrs[i].xcr, x.xcrs[i].value);
    }

    if (!caps.msrs.empty()) {
        MsrBuffer buf(caps.msrs.size());
        for (std::size_t i = 0; i < caps.msrs.size(); ++i)
            buf.get()->entries[i].index = caps.msrs[i];
        const int n = check(::ioctl(fd, KVM_GET_MSRS, buf.get()), "KVM_GET_MSRS");
        if (static_cast<std::size_t>(n) < caps.msrs.size())
            throw KvmUnsupported("KVM_GET_MSRS: KVM could not read MSR " + msr_hex(caps.msrs[n]) +
                                 " although KVM_GET_MSR_INDEX_LIST lists it; report this host's kernel version");
        for (std::size_t i = 0; i < caps.msrs.size(); ++i)
            s.msrs.push_back({buf.get()->entries[i].index, buf.get()->entries[i].data});
    }

    if (caps.irqchip) {
        kvm_lapic_state lapic{};
        check(::ioctl(fd, KVM_GET_LAPIC, &lapic), "KVM_GET_LAPIC");
        const auto* b = reinterpret_cast<const std::uint8_t*>(lapic.regs);
        s.lapic.emplace(b, b + KVM_APIC_REG_SIZE);
    }

    kvm_mp_state mp{};
    check(::ioctl(fd, KVM_GET_MP_STATE, &mp), "KVM_GET_MP_STATE");
    s.mp_state = mp.mp_state;
    check(::ioctl(fd, KVM_GET_VCPU_EVENTS, &s.events), "KVM_GET_VCPU_EVENTS");
    return s;
}

void Vcpu::restore(const VcpuState& s, const VcpuStateCaps& caps)
{
    const int fd = fd_.get();
    const std::string who = "vCPU " + std::to_string(index_) + ": ";

    // Special registers first: CR0/CR4/EFER/CS decide how the rest is interpreted.
    kvm_sregs sregs = s.sregs;
    check(::ioctl(fd, KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");
    kvm_regs regs = s.regs;
    check(::ioctl(fd, KVM_SET_REGS, &regs), "KVM_SET_REGS");

    // XCR0 before the XSAVE image, so every component in it is enabled.
    if (!s.xcrs.empty()) {
        if (!caps.xcrs)
            throw KvmUnsupported(who + "the stream carries XCRs but this host's KVM lacks KVM_CAP_XCRS; "
                                       "migrate between hosts with the same CPU features");
        kvm_xcrs x{};
        x.nr_xcrs = static_cast<std::uint32_t>(s.xcrs.size());
        for (std::size_t i = 0; i < s.xcrs.size(); ++i) {
            x.xcrs[i].xcr = s.xcrs[i].first;
            x.xcrs[i].value = s.xcrs[i].second;
        }
        check(::ioctl(fd, KVM_SET_XCRS, &x), "KVM_SET_XCRS");
    }

    if (s.fpu_format == FpuFormat::Xsave) {
        if (!caps.xsave)
            throw KvmUnsupported(who + "the stream carries an XSAVE image but this host's KVM lacks KVM_CAP_XSAVE; "
                                       "migrate between hosts with the same CPU features");
        // KVM_SET_XSAVE reads KVM_CAP_XSAVE2's size (at least 4096 bytes).
        const std::size_t bytes = std::max<std::size_t>(kXsaveMinBytes, caps.xsave2 ? caps.xsave_bytes : 0);
        if (s.xsave.size() > bytes)
            throw KvmUnsupported(who + "the source's XSAVE area is " + std::to_string(s.xsave.size()) +
                                 " bytes but this host's KVM takes " + std::to_string(bytes) +
                                 "; migrate between hosts with the same XSAVE features (e.g. AMX)");
        std::vector<std::uint32_t> area(bytes / 4, 0);
        std::memcpy(area.data(), s.xsave.data(), s.xsave.size());
        check(::ioctl(fd, KVM_SET_XSAVE, area.data()), "KVM_SET_XSAVE");
    } else {
        kvm_fpu fpu = s.fpu;
        check(::ioctl(fd, KVM_SET_FPU, &fpu), "KVM_SET_FPU");
    }

    // MSRs; TSC_DEADLINE waits until the LAPIC (its timer) is restored.
    std::vector<MsrValue> msrs, late;
    for (const MsrValue& m : s.msrs)
        (m.index == kMsrTscDeadline ? late : msrs).push_back(m);
    set_msrs(fd, msrs, "KVM_SET_MSRS");

    if (s.lapic.has_value() != caps.irqchip)
        throw KvmUnsupported(who + (s.lapic ? "the source had an in-kernel LAPIC but this VM has none"
                                            : "the source had no in-kernel LAPIC but this VM has one") +
                             "; migrate between hosts with the same KVM irqchip support");
    if (s.lapic) {
        kvm_lapic_state lapic{};
        std::memcpy(lapic.regs, s.lapic->data(), KVM_APIC_REG_SIZE);
        check(::ioctl(fd, KVM_SET_LAPIC, &lapic), "KVM_SET_LAPIC");
    }
    set_msrs(fd, late, "KVM_SET_MSRS(TSC_DEADLINE)");

    // Without an in-kernel irqchip KVM only accepts RUNNABLE, which is the default.
    if (caps.irqchip || s.mp_state != KVM_MP_STATE_RUNNABLE) {
        kvm_mp_state mp{};
        mp.mp_state = s.mp_state;
        check(::ioctl(fd, KVM_SET_MP_STATE, &mp), "KVM_SET_MP_STATE");
    }

    kvm_vcpu_events ev = s.events;
    // Only the validity flags KVM_GET_VCPU_EVENTS sets without opt-in capabilities
    // (PAYLOAD and TRIPLE_FAULT need KVM_ENABLE_CAP, which dpdc-vm never does).
    ev.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW |
                KVM_VCPUEVENT_VALID_SMM;
    check(::ioctl(fd, KVM_SET_VCPU_EVENTS, &ev), "KVM_SET_VCPU_EVENTS");
}

}  // namespace dpdc::vm
