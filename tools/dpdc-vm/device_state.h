// dpdc-vm device state as QEMU FULL sections (pure: KVM structs, no ioctls).
//
// Sections, in load order (the destination loads them in any order, but
// x-dpdc-save-devices lists them like this):
//   "dpdc-vm/machine" instance 0, version 1   the machine's shape
//   "dpdc-vm/cpu"     instance = vCPU index, version 1   one per vCPU
// RAM travels as one block "dpdc.ram" (used_length = RAM size; page offset in
// the block = memfd offset) under the configuration machine name "dpdc-vm".
//
// Payload encoding: big-endian like every QEMU stream integer; a "blob" is an
// architectural memory image (XSAVE area, APIC register page) copied verbatim.
//
// dpdc-vm/machine v1:
//   be64 ram_size | u8 has_hole, be64 hole_start, be64 hole_size (the effective
//   hole, default included) | be32 vcpus | be32 dirty_ring_entries | u8 irqchip
//   | be64 boot_info_gpa | be64 workload_gpa | be32 length + workload spec text
//   (canonical --workload form, <= 1024 bytes)
// dpdc-vm/cpu v1 (KVM_GET_SREGS, not SREGS2: a 64-bit guest has no PDPTRs):
//   regs    18 x be64: rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags
//   sregs   8 segments cs ds es fs gs ss tr ldt, each be64 base, be32 limit,
//           be16 selector, u8 type present dpl db s l g avl unusable;
//           gdt, idt: be64 base, be16 limit; be64 cr0 cr2 cr3 cr4 cr8 efer
//           apic_base; 4 x be64 interrupt_bitmap
//   fpu     u8 format: 1 = XSAVE: be32 length (>= 4096, multiple of 4) + blob
//                      2 = FPU: 8 x 16 bytes fpr, be16 fcw, be16 fsw, u8 ftwx,
//                          be16 last_opcode, be64 last_ip, be64 last_dp,
//                          16 x 16 bytes xmm, be32 mxcsr
//   xcrs    u8 count (0 = no KVM_CAP_XCRS, <= 16), count x (be32 xcr, be64 value)
//   msrs    be32 count (<= 256), count x (be32 index, be64 value)
//   lapic   u8 present (1 with an in-kernel irqchip) + 1024-byte blob
//   mp      be32 mp_state
//   events  exception: u8 injected nr has_error_code pending, be32 error_code;
//           interrupt: u8 injected nr soft shadow; nmi: u8 injected pending
//           masked; be32 sipi_vector; be32 flags; smi: u8 smm pending
//           smm_inside_nmi latched_init; u8 triple_fault_pending;
//           u8 exception_has_payload; be64 exception_payload
//   vmm     be64 rounds_done, u8 finished (VMM counters for x-dpdc-query-workload)
// Decoding checks the version, every count and length, and that the payload
// ends exactly after the last field; errors are one line naming the section,
// instance and field (DeviceStateError).
#pragma once

#include "dpdc/kvm_uapi.h"

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "workload/workload_spec.h"

namespace dpdc::vm {

inline constexpr std::string_view kMachineSectionIdstr = "dpdc-vm/machine";
inline constexpr std::string_view kCpuSectionIdstr = "dpdc-vm/cpu";
inline constexpr std::uint32_t kDeviceSectionVersion = 1;
inline constexpr std::string_view kRamBlockIdstr = "dpdc.ram";
inline constexpr std::string_view kStreamMachineName = "dpdc-vm";
inline constexpr std::size_t kXsaveMinBytes = 4096;
inline constexpr std::size_t kXsaveMaxBytes = 1 << 20;
inline constexpr std::size_t kMaxMsrs = 256;
inline constexpr std::size_t kMaxWorkloadText = 1024;

// A payload that does not decode; what() is one line:
//   "section 'dpdc-vm/cpu' instance 1, field 'xsave': length 12 is below 4096"
class DeviceStateError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct MachineState {
    std::uint64_t ram_size = 0;
    bool has_hole = false;
    std::uint64_t hole_start = 0;
    std::uint64_t hole_size = 0;
    std::uint32_t vcpus = 0;
    std::uint32_t dirty_ring_entries = 0;
    bool irqchip = false;
    std::uint64_t boot_info_gpa = 0;
    std::uint64_t workload_gpa = 0;
    std::string workload;  // canonical --workload text
    bool operator==(const MachineState&) const = default;
};

struct MsrValue {
    std::uint32_t index = 0;
    std::uint64_t value = 0;
    bool operator==(const MsrValue&) const = default;
};

enum class FpuFormat : std::uint8_t { Xsave = 1, Fpu = 2 };

struct VcpuState {
    kvm_regs regs{};
    kvm_sregs sregs{};
    FpuFormat fpu_format = FpuFormat::Xsave;
    std::vector<std::uint8_t> xsave;  // FpuFormat::Xsave: KVM_GET_XSAVE(2) image
    kvm_fpu fpu{};                    // FpuFormat::Fpu
    std::vector<std::pair<std::uint32_t, std::uint64_t>> xcrs;  // empty: no KVM_CAP_XCRS
    std::vector<MsrValue> msrs;
    std::optional<std::vector<std::uint8_t>> lapic;  // KVM_APIC_REG_SIZE bytes
    std::uint32_t mp_state = 0;
    kvm_vcpu_events events{};
    std::uint64_t rounds_done = 0;  // VMM counters, not guest state
    bool finished = false;
};

// One FULL section as x-dpdc-save-devices hands it to the engine.
struct DeviceSection {
    std::string idstr;
    std::uint32_t instance = 0;
    std::uint32_t version = kDeviceSectionVersion;
    std::vector<std::uint8_t> payload;
    nlohmann::json vmdesc;  // {"name", "instance_id", "vmsd_name", "version", "fields": [...]}
};

DeviceSection encode_machine_state(const MachineState& m);
MachineState decode_machine_state(std::span<const std::uint8_t> payload, std::uint32_t version);

DeviceSection encode_vcpu_state(const VcpuState& s, std::uint32_t index);
VcpuState decode_vcpu_state(std::span<const std::uint8_t> payload, std::uint32_t version, std::uint32_t index);

// The MSRs dpdc-vm migrates (EFER travels in sregs), in save and restore order.
std::span<const std::uint32_t> wanted_msrs();
inline constexpr std::uint32_t kMsrTscDeadline = 0x6e0;  // restored after the LAPIC
// wanted_msrs() that KVM_GET_MSR_INDEX_LIST reports, in wanted_msrs() order.
std::vector<std::uint32_t> msrs_to_save(std::span<const std::uint32_t> supported);

// Canonical --workload text: parse_workload_spec(format_workload_spec(s)) == s.
std::string format_workload_spec(const WorkloadSpec& s);
// "512M", "1G", "4K", "4097B"
std::string format_size(std::uint64_t bytes);

// Why a stream's machine cannot load into this dpdc-vm ("<what differs>; start
// it with <option>"), or nullopt. Checks RAM size, hole, vCPUs, guest layout;
// `local_workload_given` = --workload was on this command line (else the
// stream's workload is adopted).
std::optional<std::string> machine_mismatch(const MachineState& stream, const MachineState& local,
                                            bool local_workload_given);

}  // namespace dpdc::vm
