// Everything dpdc-vm writes into the guest's system area before the first
// KVM_RUN, and each vCPU's entry registers (pure).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "guest/boot_info.h"
#include "guest_layout.h"
#include "workload/workload_spec.h"

namespace dpdc::vm {

struct BootBlob {
    std::uint64_t gpa = 0;
    std::vector<std::uint8_t> bytes;
};

struct BootImage {
    dpdc_boot_info info{};
    std::uint64_t cr3 = 0;
    std::vector<BootBlob> blobs;  // boot info, GDT, TSS, page tables, guest code, zipf table
};

// Throws LayoutError if the guest image does not fit.
BootImage build_boot_image(const MemoryLayout& mem, const WorkloadArea& area, const WorkloadSpec& spec,
                           std::uint32_t vcpus, std::span<const std::uint8_t> guest_code);

// The GDT image (5 descriptors: null, code64, data, TSS low/high).
std::vector<std::uint64_t> build_gdt();

struct VcpuEntry {
    std::uint64_t rip = 0;
    std::uint64_t rsp = 0;
    std::uint64_t rdi = 0;  // vCPU index
    std::uint64_t rsi = 0;  // GPA of struct dpdc_boot_info
    std::uint64_t rflags = 2;
};

VcpuEntry vcpu_entry(std::uint32_t index);

}  // namespace dpdc::vm
