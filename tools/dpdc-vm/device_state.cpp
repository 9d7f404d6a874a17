#include "device_state.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

namespace dpdc::vm {
namespace {

// Big-endian writer that records named parts for the vmdesc field list.
class Enc {
public:
    void part(const char* name)
    {
        close();
        name_ = name;
        start_ = out.size();
    }
    void u8(std::uint8_t v) { out.push_back(v); }
    void be16(std::uint16_t v)
    {
        out.push_back(static_cast<std::uint8_t>(v >> 8));
        out.push_back(static_cast<std::uint8_t>(v));
    }
    void be32(std::uint32_t v)
    {
        for (int s = 24; s >= 0; s -= 8)
            out.push_back(static_cast<std::uint8_t>(v >> s));
    }
    void be64(std::uint64_t v)
    {
        for (int s = 56; s >= 0; s -= 8)
            out.push_back(static_cast<std::uint8_t>(v >> s));
    }
    void bytes(const void* p, std::size_t n)
    {
        const auto* b = static_cast<const std::uint8_t*>(p);
        out.insert(out.end(), b, b + n);
    }
    nlohmann::json fields()
    {
        close();
        return fields_;
    }

    std::vector<std::uint8_t> out;

private:
    void close()
    {
        if (name_ != nullptr)
            fields_.push_back({{"name", name_}, {"type", "buffer"}, {"size", out.size() - start_}});
        name_ = nullptr;
    }
    const char* name_ = nullptr;
    std::size_t start_ = 0;
    nlohmann::json fields_ = nlohmann::json::array();
};

// Big-endian reader; every failure names the section, instance and field.
class Dec {
public:
    Dec(std::span<const std::uint8_t> p, std::string_view idstr, std::uint32_t instance)
        : p_(p), where_("section '" + std::string(idstr) + "' instance " + std::to_string(instance))
    {
    }
    void field(const char* name) { field_ = name; }
    [[noreturn]] void fail(const std::string& msg) const
    {
        throw DeviceStateError(where_ + ", field '" + field_ + "': " + msg);
    }
    std::span<const std::uint8_t> take(std::size_t n)
    {
        if (p_.size() - pos_ < n)
            fail("payload ends at byte " + std::to_string(p_.size()) + ", " + std::to_string(n) +
                 " more bytes needed at byte " + std::to_string(pos_));
        auto s = p_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    std::uint64_t be(std::size_t n)
    {
        std::uint64_t v = 0;
        for (std::uint8_t b : take(n))
            v = (v << 8) | b;
        return v;
    }
    std::uint8_t u8() { return static_cast<std::uint8_t>(be(1)); }
    std::uint16_t be16() { return static_cast<std::uint16_t>(be(2)); }
    std::uint32_t be32() { return static_cast<std::uint32_t>(be(4)); }
    std::uint64_t be64() { return be(8); }
    bool flag()
    {
        const std::uint8_t v = u8();
        if (v > 1)
            fail("flag byte is " + std::to_string(v) + ", expected 0 or 1");
        return v == 1;
    }
    void copy(void* dst, std::size_t n) { std::memcpy(dst, take(n).data(), n); }
    void end()
    {
        field_ = "end";
        if (pos_ != p_.size())
            fail(std::to_string(p_.size() - pos_) + " trailing bytes after the last field");
    }
    const std::string& where() const { return where_; }

private:
    std::span<const std::uint8_t> p_;
    std::size_t pos_ = 0;
    std::string where_;
    std::string field_ = "header";
};

void check_version(std::string_view idstr, std::uint32_t instance, std::uint32_t version)
{
    if (version != kDeviceSectionVersion)
        throw DeviceStateError("section '" + std::string(idstr) + "' instance " + std::to_string(instance) +
                               ", field 'version': version " + std::to_string(version) +
                               " is not supported (this dpdc-vm reads version 1)");
}

nlohmann::json vmdesc_entry(std::string_view idstr, std::uint32_t instance, nlohmann::json fields)
{
    return {{"name", std::string(idstr)},
            {"instance_id", instance},
            {"vmsd_name", std::string(idstr)},
            {"version", kDeviceSectionVersion},
            {"fields", std::move(fields)}};
}

// The register lists of a vCPU section, each in wire order: one list for
// the encoder (const state) and the decoder (state being filled) alike, so
// the two cannot disagree on the order.
template <class Regs>  // kvm_regs or const kvm_regs
auto regs_of(Regs& r)
{
    return std::array{&r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rsp, &r.rbp, &r.r8,
                      &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15, &r.rip, &r.rflags};
}
template <class Sregs>
auto segments(Sregs& s)
{
    return std::array{&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss, &s.tr, &s.ldt};
}
template <class Segment>
auto segment_flags(Segment& g)  // after base, limit, selector
{
    return std::array{&g.type, &g.present, &g.dpl, &g.db, &g.s, &g.l, &g.g, &g.avl, &g.unusable};
}
template <class Sregs>
auto dtables(Sregs& s)
{
    return std::array{&s.gdt, &s.idt};
}
template <class Sregs>
auto control_regs(Sregs& s)  // after the descriptor tables
{
    return std::array{&s.cr0, &s.cr2, &s.cr3, &s.cr4, &s.cr8, &s.efer, &s.apic_base};
}
// kvm_vcpu_events' byte fields in three runs: before exception.error_code,
// between it and sipi_vector/flags, and before exception_payload.
template <class Events>
auto exception_bytes(Events& v)
{
    return std::array{&v.exception.injected, &v.exception.nr, &v.exception.has_error_code, &v.exception.pending};
}
template <class Events>
auto interrupt_bytes(Events& v)
{
    return std::array{&v.interrupt.injected, &v.interrupt.nr, &v.interrupt.soft, &v.interrupt.shadow,
                      &v.nmi.injected,       &v.nmi.pending,  &v.nmi.masked};
}
template <class Events>
auto smi_bytes(Events& v)
{
    return std::array{&v.smi.smm,          &v.smi.pending,       &v.smi.smm_inside_nmi, &v.smi.latched_init,
                      &v.triple_fault.pending, &v.exception_has_payload};
}

constexpr std::array<std::uint32_t, 18> kWantedMsrs{
    0x174,       // IA32_SYSENTER_CS
    0x175,       // IA32_SYSENTER_ESP
    0x176,       // IA32_SYSENTER_EIP
    0xc0000081,  // STAR
    0xc0000082,  // LSTAR
    0xc0000083,  // CSTAR
    0xc0000084,  // SFMASK (SYSCALL_MASK)
    0xc0000100,  // FS_BASE
    0xc0000101,  // GS_BASE
    0xc0000102,  // KERNEL_GS_BASE
    0xc0000103,  // TSC_AUX
    0x277,       // IA32_PAT
    0x1a0,       // IA32_MISC_ENABLE
    0x10,        // IA32_TSC (before TSC_ADJUST/TSC_DEADLINE, as QEMU orders them)
    0x3b,        // IA32_TSC_ADJUST
    0x48,        // IA32_SPEC_CTRL
    0x122,       // IA32_TSX_CTRL
    kMsrTscDeadline,
};

}  // namespace

DeviceSection encode_machine_state(const MachineState& m)
{
    Enc e;
    e.part("memory");
    e.be64(m.ram_size);
    e.u8(m.has_hole ? 1 : 0);
    e.be64(m.hole_start);
    e.be64(m.hole_size);
    e.part("vcpus");
    e.be32(m.vcpus);
    e.be32(m.dirty_ring_entries);
    e.u8(m.irqchip ? 1 : 0);
    e.part("layout");
    e.be64(m.boot_info_gpa);
    e.be64(m.workload_gpa);
    e.part("workload");
    if (m.workload.size() > kMaxWorkloadText)
        throw std::length_error("workload spec text longer than 1024 bytes");
    e.be32(static_cast<std::uint32_t>(m.workload.size()));
    e.bytes(m.workload.data(), m.workload.size());
    DeviceSection s;
    s.idstr = kMachineSectionIdstr;
    s.instance = 0;
    s.vmdesc = vmdesc_entry(kMachineSectionIdstr, 0, e.fields());
    s.payload = std::move(e.out);
    return s;
}

MachineState decode_machine_state(std::span<const std::uint8_t> payload, std::uint32_t version)
{
    check_version(kMachineSectionIdstr, 0, version);
    Dec d(payload, kMachineSectionIdstr, 0);
    MachineState m;
    d.field("ram_size");
    m.ram_size = d.be64();
    d.field("has_hole");
    m.has_hole = d.flag();
    d.field("hole_start");
    m.hole_start = d.be64();
    d.field("hole_size");
    m.hole_size = d.be64();
    d.field("vcpus");
    m.vcpus = d.be32();
    if (m.vcpus == 0 || m.vcpus > 64)
        d.fail(std::to_string(m.vcpus) + " vCPUs is implausible");
    d.field("dirty_ring_entries");
    m.dirty_ring_entries = d.be32();
    d.field("irqchip");
    m.irqchip = d.flag();
    d.field("boot_info_gpa");
    m.boot_info_gpa = d.be64();
    d.field("workload_gpa");
    m.workload_gpa = d.be64();
    d.field("workload");
    const std::uint32_t len = d.be32();
    if (len > kMaxWorkloadText)
        d.fail("length " + std::to_string(len) + " exceeds " + std::to_string(kMaxWorkloadText));
    auto text = d.take(len);
    m.workload.assign(text.begin(), text.end());
    d.end();
    return m;
}

DeviceSection encode_vcpu_state(const VcpuState& s, std::uint32_t index)
{
    Enc e;
    e.part("regs");
    for (const __u64* r : regs_of(s.regs))
        e.be64(*r);

    e.part("sregs");
    for (const kvm_segment* g : segments(s.sregs)) {
        e.be64(g->base);
        e.be32(g->limit);
        e.be16(g->selector);
        for (const __u8* b : segment_flags(*g))
            e.u8(*b);
    }
    for (const kvm_dtable* t : dtables(s.sregs)) {
        e.be64(t->base);
        e.be16(t->limit);
    }
    for (const __u64* v : control_regs(s.sregs))
        e.be64(*v);
    for (std::uint64_t v : s.sregs.interrupt_bitmap)
        e.be64(v);

    e.part(s.fpu_format == FpuFormat::Xsave ? "xsave" : "fpu");
    e.u8(static_cast<std::uint8_t>(s.fpu_format));
    if (s.fpu_format == FpuFormat::Xsave) {
        if (s.xsave.size() < kXsaveMinBytes || s.xsave.size() > kXsaveMaxBytes || s.xsave.size() % 4 != 0)
            throw std::length_error("XSAVE image of " + std::to_string(s.xsave.size()) + " bytes");
        e.be32(static_cast<std::uint32_t>(s.xsave.size()));
        e.bytes(s.xsave.data(), s.xsave.size());
    } else {
        e.bytes(s.fpu.fpr, sizeof(s.fpu.fpr));
        e.be16(s.fpu.fcw);
        e.be16(s.fpu.fsw);
        e.u8(s.fpu.ftwx);
        e.be16(s.fpu.last_opcode);
        e.be64(s.fpu.last_ip);
        e.be64(s.fpu.last_dp);
        e.bytes(s.fpu.xmm, sizeof(s.fpu.xmm));
        e.be32(s.fpu.mxcsr);
    }

    e.part("xcrs");
    if (s.xcrs.size() > KVM_MAX_XCRS)
        throw std::length_error("more than 16 XCRs");
    e.u8(static_cast<std::uint8_t>(s.xcrs.size()));
    for (const auto& [xcr, value] : s.xcrs) {
        e.be32(xcr);
        e.be64(value);
    }

    e.part("msrs");
    if (s.msrs.size() > kMaxMsrs)
        throw std::length_error("more than 256 MSRs");
    e.be32(static_cast<std::uint32_t>(s.msrs.size()));
    for (const MsrValue& m : s.msrs) {
        e.be32(m.index);
        e.be64(m.value);
    }

    e.part("lapic");
    e.u8(s.lapic ? 1 : 0);
    if (s.lapic) {
        if (s.lapic->size() != KVM_APIC_REG_SIZE)
            throw std::length_error("LAPIC image is not 1024 bytes");
        e.bytes(s.lapic->data(), s.lapic->size());
    }

    e.part("mp_state");
    e.be32(s.mp_state);

    e.part("events");
    const kvm_vcpu_events& v = s.events;
    for (const __u8* b : exception_bytes(v))
        e.u8(*b);
    e.be32(v.exception.error_code);
    for (const __u8* b : interrupt_bytes(v))
        e.u8(*b);
    e.be32(v.sipi_vector);
    e.be32(v.flags);
    for (const __u8* b : smi_bytes(v))
        e.u8(*b);
    e.be64(v.exception_payload);

    e.part("vmm");
    e.be64(s.rounds_done);
    e.u8(s.finished ? 1 : 0);

    DeviceSection sec;
    sec.idstr = kCpuSectionIdstr;
    sec.instance = index;
    sec.vmdesc = vmdesc_entry(kCpuSectionIdstr, index, e.fields());
    sec.payload = std::move(e.out);
    return sec;
}

VcpuState decode_vcpu_state(std::span<const std::uint8_t> payload, std::uint32_t version, std::uint32_t index)
{
    check_version(kCpuSectionIdstr, index, version);
    Dec d(payload, kCpuSectionIdstr, index);
    VcpuState s;
    d.field("regs");
    for (__u64* r : regs_of(s.regs))
        *r = d.be64();

    d.field("sregs");
    for (kvm_segment* g : segments(s.sregs)) {
        g->base = d.be64();
        g->limit = d.be32();
        g->selector = d.be16();
        for (__u8* b : segment_flags(*g))
            *b = d.u8();
    }
    for (kvm_dtable* t : dtables(s.sregs)) {
        t->base = d.be64();
        t->limit = d.be16();
    }
    for (__u64* v : control_regs(s.sregs))
        *v = d.be64();
    for (__u64& v : s.sregs.interrupt_bitmap)
        v = d.be64();

    d.field("fpu format");
    const std::uint8_t fmt = d.u8();
    if (fmt == static_cast<std::uint8_t>(FpuFormat::Xsave)) {
        s.fpu_format = FpuFormat::Xsave;
        d.field("xsave");
        const std::uint32_t len = d.be32();
        if (len < kXsaveMinBytes || len > kXsaveMaxBytes || len % 4 != 0)
            d.fail("length " + std::to_string(len) + " is not a multiple of 4 from 4096 to 1 MiB");
        auto b = d.take(len);
        s.xsave.assign(b.begin(), b.end());
    } else if (fmt == static_cast<std::uint8_t>(FpuFormat::Fpu)) {
        s.fpu_format = FpuFormat::Fpu;
        d.field("fpu");
        d.copy(s.fpu.fpr, sizeof(s.fpu.fpr));
        s.fpu.fcw = d.be16();
        s.fpu.fsw = d.be16();
        s.fpu.ftwx = d.u8();
        s.fpu.last_opcode = d.be16();
        s.fpu.last_ip = d.be64();
        s.fpu.last_dp = d.be64();
        d.copy(s.fpu.xmm, sizeof(s.fpu.xmm));
        s.fpu.mxcsr = d.be32();
    } else {
        d.fail("format " + std::to_string(fmt) + " is neither 1 (XSAVE) nor 2 (FPU)");
    }

    d.field("xcrs");
    const std::uint8_t nxcrs = d.u8();
    if (nxcrs > KVM_MAX_XCRS)
        d.fail("count " + std::to_string(nxcrs) + " exceeds 16");
    for (std::uint8_t i = 0; i < nxcrs; ++i) {
        const std::uint32_t xcr = d.be32();
        s.xcrs.emplace_back(xcr, d.be64());
    }

    d.field("msrs");
    const std::uint32_t nmsrs = d.be32();
    if (nmsrs > kMaxMsrs)
        d.fail("count " + std::to_string(nmsrs) + " exceeds " + std::to_string(kMaxMsrs));
    for (std::uint32_t i = 0; i < nmsrs; ++i) {
        MsrValue m;
        m.index = d.be32();
        m.value = d.be64();
        s.msrs.push_back(m);
    }

    d.field("lapic");
    if (d.flag()) {
        auto b = d.take(KVM_APIC_REG_SIZE);
        s.lapic.emplace(b.begin(), b.end());
    }

    d.field("mp_state");
    s.mp_state = d.be32();
    if (s.mp_state > 10)  // KVM_MP_STATE_SUSPENDED, the highest value in Linux 6.x
        d.fail("mp_state " + std::to_string(s.mp_state) + " is not a KVM_MP_STATE_* value");

    d.field("events");
    kvm_vcpu_events& v = s.events;
    for (__u8* b : exception_bytes(v))
        *b = d.u8();
    v.exception.error_code = d.be32();
    for (__u8* b : interrupt_bytes(v))
        *b = d.u8();
    v.sipi_vector = d.be32();
    v.flags = d.be32();
    for (__u8* b : smi_bytes(v))
        *b = d.u8();
    v.exception_payload = d.be64();

    d.field("vmm");
    s.rounds_done = d.be64();
    s.finished = d.flag();
    d.end();
    return s;
}

std::span<const std::uint32_t> wanted_msrs() { return kWantedMsrs; }

std::vector<std::uint32_t> msrs_to_save(std::span<const std::uint32_t> supported)
{
    std::vector<std::uint32_t> out;
    for (std::uint32_t m : kWantedMsrs)
        if (std::find(supported.begin(), supported.end(), m) != supported.end())
            out.push_back(m);
    return out;
}

std::string format_workload_spec(const WorkloadSpec& s)
{
    std::string t(s.name());
    if (s.kind == WorkloadKind::HotCold)
        t += ",hot=" + std::to_string(s.hot_percent) + ",writes=" + std::to_string(s.write_percent);
    if (s.kind == WorkloadKind::Zipf) {
        char buf[40];
        std::snprintf(buf, sizeof(buf), "%.17g", s.zipf_s);
        t += std::string(",s=") + buf;
    }
    if (s.pages != 0)
        t += ",pages=" + std::to_string(s.pages);
    t += ",rounds=" + std::to_string(s.rounds);
    t += std::string(",sync=") + (s.sync ? "on" : "off");
    t += ",seed=" + std::to_string(s.seed);
    return t;
}

std::string format_size(std::uint64_t bytes)
{
    constexpr std::uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
    if (bytes != 0 && bytes % kGiB == 0)
        return std::to_string(bytes / kGiB) + "G";
    if (bytes != 0 && bytes % kMiB == 0)
        return std::to_string(bytes / kMiB) + "M";
    if (bytes != 0 && bytes % kKiB == 0)
        return std::to_string(bytes / kKiB) + "K";
    return std::to_string(bytes) + "B";
}

std::optional<std::string> machine_mismatch(const MachineState& stream, const MachineState& local,
                                            bool local_workload_given)
{
    if (stream.ram_size != local.ram_size)
        return "the stream's guest has -m " + format_size(stream.ram_size) + " but this dpdc-vm has -m " +
               format_size(local.ram_size) + "; start it with -m " + format_size(stream.ram_size);
    auto hole = [](const MachineState& m) {
        return m.has_hole ? format_size(m.hole_start) + "," + format_size(m.hole_size) : std::string();
    };
    if (hole(stream) != hole(local)) {
        if (!stream.has_hole)
            return "the stream's guest has no GPA hole but this dpdc-vm has --hole " + hole(local) +
                   "; start it without --hole";
        return "the stream's guest has --hole " + hole(stream) + " but this dpdc-vm has " +
               (local.has_hole ? "--hole " + hole(local) : std::string("no hole")) + "; start it with --hole " +
               hole(stream);
    }
    if (stream.vcpus != local.vcpus)
        return "the stream's guest has -smp " + std::to_string(stream.vcpus) + " but this dpdc-vm has -smp " +
               std::to_string(local.vcpus) + "; start it with -smp " + std::to_string(stream.vcpus);
    if (stream.boot_info_gpa != local.boot_info_gpa || stream.workload_gpa != local.workload_gpa)
        return "the stream's guest was laid out by a different dpdc-vm build (boot info at " +
               std::to_string(stream.boot_info_gpa) + ", workload at " + std::to_string(stream.workload_gpa) +
               "); use the same dpdc-vm build on both sides";
    if (local_workload_given && stream.workload != local.workload)
        return "the stream's guest runs --workload " + stream.workload + " but this dpdc-vm was given --workload " +
               local.workload + "; start it with --workload " + stream.workload + " or without --workload";
    return std::nullopt;
}

}  // namespace dpdc::vm
