#include "boot_image.h"

#include <cstring>
#include <string>

#include "workload/zipf_table.h"

namespace dpdc::vm {
namespace {

template <class T>
BootBlob blob_of(std::uint64_t gpa, const T* data, std::size_t count)
{
    BootBlob b;
    b.gpa = gpa;
    b.bytes.resize(count * sizeof(T));
    if (count != 0)
        std::memcpy(b.bytes.data(), data, b.bytes.size());
    return b;
}

}  // namespace

std::vector<std::uint64_t> build_gdt()
{
    std::vector<std::uint64_t> gdt(layout::kGdtEntries, 0);
    // Accessed bits pre-set so the CPU never writes descriptors.
    gdt[layout::kCodeSelector / 8] = 0x00af9b000000ffffull;  // P, DPL0, code exec/read accessed, L=1, G=1
    gdt[layout::kDataSelector / 8] = 0x00cf93000000ffffull;  // P, DPL0, data r/w accessed, D/B=1, G=1
    const std::uint64_t base = layout::kTssGpa;
    const std::uint64_t limit = layout::kTssLimit;
    gdt[layout::kTssSelector / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x8bull << 40) |
                                    (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);  // busy TSS
    gdt[layout::kTssSelector / 8 + 1] = base >> 32;
    return gdt;
}

BootImage build_boot_image(const MemoryLayout& mem, const WorkloadArea& area, const WorkloadSpec& spec,
                           std::uint32_t vcpus, std::span<const std::uint8_t> guest_code)
{
    if (guest_code.size() > layout::kGuestCodeMax)
        throw LayoutError("guest image is " + std::to_string(guest_code.size()) + " bytes, more than the " +
                          std::to_string(layout::kGuestCodeMax) + " reserved; enlarge the guest code area");
    if (area.ranges.size() > DPDC_MAX_RANGES)
        throw LayoutError("workload area has too many ranges; use fewer memslots");

    BootImage img;
    dpdc_boot_info& bi = img.info;
    bi.magic = DPDC_BOOT_MAGIC;
    bi.workload = static_cast<std::uint32_t>(spec.kind);
    bi.nr_vcpus = vcpus;
    bi.pages = area.pages;
    bi.seed = spec.seed;
    bi.rounds = spec.rounds;
    bi.sync = spec.sync ? 1 : 0;
    bi.nr_ranges = static_cast<std::uint32_t>(area.ranges.size());
    for (std::size_t i = 0; i < area.ranges.size(); ++i)
        bi.ranges[i] = area.ranges[i];
    bi.hot_percent = spec.hot_percent;
    bi.write_percent = spec.write_percent;
    bi.delay = spec.delay;

    std::vector<std::uint32_t> cdf;
    if (spec.kind == WorkloadKind::Zipf) {
        const std::uint32_t ranks = zipf_ranks(area.pages);
        cdf = build_zipf_cdf(ranks, spec.zipf_s);
        bi.zipf_table_gpa = layout::kZipfTableGpa;
        bi.zipf_ranks = ranks;
        bi.zipf_multiplier = zipf_multiplier(ranks);
    }

    const PageTables pt = build_page_tables(mem.gpa_top());
    img.cr3 = pt.base_gpa;

    // 64-bit TSS: all zero except the I/O map base (offset 102) = limit + 1 (no I/O bitmap).
    std::vector<std::uint8_t> tss(layout::kTssLimit + 1, 0);
    tss[102] = static_cast<std::uint8_t>(layout::kTssLimit + 1);

    const auto gdt = build_gdt();
    img.blobs.push_back(blob_of(layout::kBootInfoGpa, &bi, 1));
    img.blobs.push_back(blob_of(layout::kGdtGpa, gdt.data(), gdt.size()));
    img.blobs.push_back(blob_of(layout::kTssGpa, tss.data(), tss.size()));
    img.blobs.push_back(blob_of(pt.base_gpa, pt.words.data(), pt.words.size()));
    img.blobs.push_back(blob_of(layout::kGuestCodeGpa, guest_code.data(), guest_code.size()));
    if (!cdf.empty())
        img.blobs.push_back(blob_of(layout::kZipfTableGpa, cdf.data(), cdf.size()));
    return img;
}

VcpuEntry vcpu_entry(std::uint32_t index)
{
    VcpuEntry e;
    e.rip = layout::kGuestCodeGpa;
    e.rsp = layout::kStacksGpa + (static_cast<std::uint64_t>(index) + 1) * layout::kStackSize;
    e.rdi = index;
    e.rsi = layout::kBootInfoGpa;
    e.rflags = 2;
    return e;
}

}  // namespace dpdc::vm
