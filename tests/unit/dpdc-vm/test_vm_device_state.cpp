// dpdc-vm device sections: encode/decode round trips and rejections (pure).
#include <gtest/gtest.h>

#include <cstring>

#include "device_state.h"
#include "incoming_loader.h"
#include "options.h"
#include "stream/base64.h"

using namespace dpdc::vm;

namespace {

MachineState sample_machine()
{
    MachineState m;
    m.ram_size = 64 * MiB;
    m.has_hole = true;
    m.hole_start = 8 * MiB;
    m.hole_size = 1 * MiB;
    m.vcpus = 2;
    m.dirty_ring_entries = 4096;
    m.irqchip = true;
    m.boot_info_gpa = layout::kBootInfoGpa;
    m.workload_gpa = layout::kWorkloadGpa;
    m.workload = "ab,rounds=3,sync=on,seed=1";
    return m;
}

VcpuState sample_vcpu(bool xsave = true)
{
    VcpuState s;
    s.regs.rax = 0x1122334455667788ull;
    s.regs.r15 = 15;
    s.regs.rip = 0x100123;
    s.regs.rflags = 0x202;
    s.sregs.cs.selector = 8;
    s.sregs.cs.l = 1;
    s.sregs.tr.base = 0x3000;
    s.sregs.ldt.unusable = 1;
    s.sregs.gdt.base = 0x2000;
    s.sregs.gdt.limit = 39;
    s.sregs.cr0 = 0x80010033;
    s.sregs.cr3 = 0x10000;
    s.sregs.efer = 0x500;
    s.sregs.apic_base = 0xfee00900;
    s.sregs.interrupt_bitmap[3] = 1ull << 63;
    if (xsave) {
        s.fpu_format = FpuFormat::Xsave;
        s.xsave.resize(4096 + 64);
        for (std::size_t i = 0; i < s.xsave.size(); ++i)
            s.xsave[i] = static_cast<std::uint8_t>(i * 7);
    } else {
        s.fpu_format = FpuFormat::Fpu;
        s.fpu.fpr[7][15] = 0xab;
        s.fpu.fcw = 0x37f;
        s.fpu.ftwx = 0xff;
        s.fpu.last_ip = 0xdeadbeef;
        s.fpu.xmm[15][0] = 0xcd;
        s.fpu.mxcsr = 0x1f80;
    }
    s.xcrs = {{0, 7}};
    s.msrs = {{0xc0000082, 0xffffffff81000000ull}, {0x10, 123456789}};
    s.lapic.emplace(KVM_APIC_REG_SIZE, 0);
    (*s.lapic)[0x20] = 0x01;
    s.mp_state = KVM_MP_STATE_HALTED;
    s.events.exception.nr = 14;
    s.events.exception.error_code = 2;
    s.events.interrupt.shadow = 1;
    s.events.nmi.masked = 1;
    s.events.flags = KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
    s.events.exception_payload = 0x1234;
    s.rounds_done = 42;
    s.finished = true;
    return s;
}

std::string decode_error(const std::vector<std::uint8_t>& payload, std::uint32_t version = 1)
{
    try {
        (void)decode_vcpu_state(payload, version, 1);
    } catch (const DeviceStateError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(VmDeviceState, MachineRoundTripAndVmdesc)
{
    const MachineState m = sample_machine();
    const DeviceSection s = encode_machine_state(m);
    EXPECT_EQ(s.idstr, "dpdc-vm/machine");
    EXPECT_EQ(s.instance, 0u);
    EXPECT_EQ(s.version, 1u);
    EXPECT_EQ(decode_machine_state(s.payload, 1), m);
    // Big-endian: the RAM size leads the payload.
    ASSERT_GE(s.payload.size(), 8u);
    EXPECT_EQ(s.payload[4], 0x04);  // 64 MiB = 0x04000000
    EXPECT_EQ(s.vmdesc["name"], "dpdc-vm/machine");
    EXPECT_EQ(s.vmdesc["vmsd_name"], "dpdc-vm/machine");
    EXPECT_EQ(s.vmdesc["instance_id"], 0);
    EXPECT_EQ(s.vmdesc["version"], 1);
    std::size_t total = 0;
    for (const auto& f : s.vmdesc["fields"]) {
        EXPECT_EQ(f["type"], "buffer");
        total += f["size"].get<std::size_t>();
    }
    EXPECT_EQ(total, s.payload.size());
}

TEST(VmDeviceState, MachineRejections)
{
    DeviceSection s = encode_machine_state(sample_machine());
    EXPECT_THROW(decode_machine_state(s.payload, 2), DeviceStateError);
    auto p = s.payload;
    p.push_back(0);
    try {
        decode_machine_state(p, 1);
        FAIL();
    } catch (const DeviceStateError& e) {
        EXPECT_STREQ(e.what(), "section 'dpdc-vm/machine' instance 0, field 'end': 1 trailing bytes after the last field");
    }
    p = s.payload;
    p.resize(10);
    try {
        decode_machine_state(p, 1);
        FAIL();
    } catch (const DeviceStateError& e) {
        EXPECT_NE(std::string(e.what()).find("field 'hole_start'"), std::string::npos) << e.what();
    }
    p = s.payload;
    p[8] = 2;  // has_hole flag
    EXPECT_THROW(decode_machine_state(p, 1), DeviceStateError);
}

TEST(VmDeviceState, VcpuRoundTripXsaveAndFpu)
{
    for (bool xsave : {true, false}) {
        const VcpuState s = sample_vcpu(xsave);
        const DeviceSection sec = encode_vcpu_state(s, 3);
        EXPECT_EQ(sec.idstr, "dpdc-vm/cpu");
        EXPECT_EQ(sec.instance, 3u);
        EXPECT_EQ(sec.vmdesc["instance_id"], 3);
        const VcpuState d = decode_vcpu_state(sec.payload, 1, 3);
        EXPECT_EQ(std::memcmp(&d.regs, &s.regs, sizeof(s.regs)), 0);
        EXPECT_EQ(d.sregs.cs.l, 1);
        EXPECT_EQ(d.sregs.ldt.unusable, 1);
        EXPECT_EQ(d.sregs.gdt.limit, 39);
        EXPECT_EQ(d.sregs.apic_base, 0xfee00900u);
        EXPECT_EQ(d.sregs.interrupt_bitmap[3], 1ull << 63);
        EXPECT_EQ(d.fpu_format, s.fpu_format);
        EXPECT_EQ(d.xsave, s.xsave);
        if (!xsave) {
            EXPECT_EQ(d.fpu.fpr[7][15], 0xab);
            EXPECT_EQ(d.fpu.fcw, 0x37f);
            EXPECT_EQ(d.fpu.last_ip, 0xdeadbeefu);
            EXPECT_EQ(d.fpu.xmm[15][0], 0xcd);
            EXPECT_EQ(d.fpu.mxcsr, 0x1f80u);
        }
        EXPECT_EQ(d.xcrs, s.xcrs);
        EXPECT_EQ(d.msrs, s.msrs);
        EXPECT_EQ(d.lapic, s.lapic);
        EXPECT_EQ(d.mp_state, s.mp_state);
        EXPECT_EQ(d.events.exception.nr, 14);
        EXPECT_EQ(d.events.exception.error_code, 2u);
        EXPECT_EQ(d.events.interrupt.shadow, 1);
        EXPECT_EQ(d.events.nmi.masked, 1);
        EXPECT_EQ(d.events.flags, s.events.flags);
        EXPECT_EQ(d.events.exception_payload, 0x1234u);
        EXPECT_EQ(d.rounds_done, 42u);
        EXPECT_TRUE(d.finished);
        EXPECT_EQ(encode_vcpu_state(d, 3).payload, sec.payload);  // stable
    }
    // No irqchip, no XCRs, no MSRs.
    VcpuState bare = sample_vcpu();
    bare.lapic.reset();
    bare.xcrs.clear();
    bare.msrs.clear();
    const VcpuState d = decode_vcpu_state(encode_vcpu_state(bare, 0).payload, 1, 0);
    EXPECT_FALSE(d.lapic.has_value());
    EXPECT_TRUE(d.xcrs.empty());
    EXPECT_TRUE(d.msrs.empty());
}

TEST(VmDeviceState, VcpuRegsAreBigEndian)
{
    VcpuState s = sample_vcpu();
    const auto p = encode_vcpu_state(s, 0).payload;
    const std::uint8_t want[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    EXPECT_EQ(std::memcmp(p.data(), want, 8), 0);  // rax first
}

TEST(VmDeviceState, VcpuRejections)
{
    const auto good = encode_vcpu_state(sample_vcpu(), 1).payload;
    EXPECT_NE(decode_error(good, 2).find("field 'version': version 2 is not supported"), std::string::npos);
    // Truncated at every length: always a one-line error naming the section.
    for (std::size_t n : {std::size_t{0}, std::size_t{100}, std::size_t{200}, good.size() - 1}) {
        std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
        const std::string err = decode_error(cut);
        EXPECT_EQ(err.rfind("section 'dpdc-vm/cpu' instance 1, field '", 0), 0u) << n << ": " << err;
        EXPECT_EQ(err.find('\n'), std::string::npos);
    }
    EXPECT_NE(decode_error(std::vector<std::uint8_t>(good.begin(), good.begin() + 100)).find("field 'regs'"),
              std::string::npos);
    EXPECT_NE(decode_error(std::vector<std::uint8_t>(good.begin(), good.begin() + 200)).find("field 'sregs'"),
              std::string::npos);
    // The FPU format byte sits right after regs (144) and sregs (8*23 + 2*10 + 7*8 + 4*8 = 292).
    auto bad = good;
    ASSERT_EQ(bad[144 + 292], 1);
    bad[144 + 292] = 9;
    EXPECT_NE(decode_error(bad).find("field 'fpu format': format 9"), std::string::npos) << decode_error(bad);
    bad = good;
    bad[144 + 292 + 1] = 0;  // XSAVE length 4160 -> 64
    bad[144 + 292 + 3] = 0;
    EXPECT_NE(decode_error(bad).find("field 'xsave'"), std::string::npos) << decode_error(bad);
    bad = good;
    bad.push_back(0);
    EXPECT_NE(decode_error(bad).find("trailing bytes"), std::string::npos);
}

TEST(VmDeviceState, SaveDevicesPayloadsSurviveBase64)
{
    const auto p = encode_vcpu_state(sample_vcpu(), 0).payload;
    EXPECT_EQ(dpdc::stream::base64_decode(dpdc::stream::base64_encode(p)), p);
}

TEST(VmDeviceState, MsrsToSaveIntersectsInOrder)
{
    const std::vector<std::uint32_t> supported{0x10, 0xc0000082, 0x12345, 0x174, 0x6e0};
    EXPECT_EQ(msrs_to_save(supported), (std::vector<std::uint32_t>{0x174, 0xc0000082, 0x10, 0x6e0}));
    const auto wanted = wanted_msrs();
    for (std::uint32_t m : {0xc0000081u, 0xc0000082u, 0xc0000083u, 0xc0000084u, 0xc0000102u, 0xc0000100u,
                            0xc0000101u, 0x10u, 0x174u, 0x175u, 0x176u, 0x277u})
        EXPECT_NE(std::find(wanted.begin(), wanted.end(), m), wanted.end()) << std::hex << m;
    EXPECT_TRUE(msrs_to_save({}).empty());
}

TEST(VmDeviceState, WorkloadTextIsCanonical)
{
    for (const char* text : {"idle", "ab,rounds=3,sync=on", "hotcold,hot=20,writes=80,pages=100,seed=7",
                             "zipf,s=1.3", "seq,rounds=0"}) {
        const WorkloadSpec a = parse_workload_spec(text);
        const std::string canon = format_workload_spec(a);
        const WorkloadSpec b = parse_workload_spec(canon);
        EXPECT_EQ(format_workload_spec(b), canon) << text;
        EXPECT_EQ(b.kind, a.kind);
        EXPECT_EQ(b.pages, a.pages);
        EXPECT_EQ(b.rounds, a.rounds);
        EXPECT_EQ(b.sync, a.sync);
        EXPECT_EQ(b.seed, a.seed);
        EXPECT_EQ(b.hot_percent, a.hot_percent);
        EXPECT_EQ(b.write_percent, a.write_percent);
        EXPECT_EQ(b.zipf_s, a.zipf_s);
    }
    EXPECT_EQ(format_workload_spec(parse_workload_spec("ab,sync=on,rounds=3")), "ab,rounds=3,sync=on,seed=1");
}

TEST(VmDeviceState, MachineMismatchNamesTheOption)
{
    const MachineState s = sample_machine();
    EXPECT_FALSE(machine_mismatch(s, s, true).has_value());
    MachineState l = s;
    l.ram_size = 256 * MiB;
    EXPECT_EQ(*machine_mismatch(s, l, false),
              "the stream's guest has -m 64M but this dpdc-vm has -m 256M; start it with -m 64M");
    l = s;
    l.has_hole = false;
    EXPECT_EQ(*machine_mismatch(s, l, false),
              "the stream's guest has --hole 8M,1M but this dpdc-vm has no hole; start it with --hole 8M,1M");
    EXPECT_EQ(*machine_mismatch(l, s, false),
              "the stream's guest has no GPA hole but this dpdc-vm has --hole 8M,1M; start it without --hole");
    l = s;
    l.vcpus = 1;
    EXPECT_EQ(*machine_mismatch(s, l, false),
              "the stream's guest has -smp 2 but this dpdc-vm has -smp 1; start it with -smp 2");
    l = s;
    l.workload = "idle,rounds=0,sync=off,seed=1";
    EXPECT_FALSE(machine_mismatch(s, l, false).has_value());  // not given: the stream's is adopted
    EXPECT_NE(machine_mismatch(s, l, true)->find("start it with --workload ab,rounds=3,sync=on,seed=1"),
              std::string::npos);
    l = s;
    l.dirty_ring_entries = 1024;  // the destination's own choice
    l.irqchip = false;            // checked against KVM, not here
    EXPECT_FALSE(machine_mismatch(s, l, true).has_value());
}

TEST(VmDeviceState, LocalMachineStateFromConfig)
{
    Config cfg;
    cfg.ram_size = 16 * MiB;
    cfg.vcpus = 2;
    cfg.hole = MemHole{8 * MiB, 1 * MiB};
    cfg.workload = parse_workload_spec("ab,rounds=2");
    const MachineState m = local_machine_state(cfg);
    EXPECT_EQ(m.ram_size, 16 * MiB);
    EXPECT_TRUE(m.has_hole);
    EXPECT_EQ(m.hole_start, 8 * MiB);
    EXPECT_EQ(m.vcpus, 2u);
    EXPECT_EQ(m.workload, "ab,rounds=2,sync=off,seed=1");
    cfg.hole.reset();
    cfg.ram_size = 4 * GiB;  // the default PC-like hole counts
    EXPECT_TRUE(local_machine_state(cfg).has_hole);
}
