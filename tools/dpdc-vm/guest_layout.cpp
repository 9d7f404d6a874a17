#include "guest_layout.h"

#include <algorithm>
#include <string>

namespace dpdc::vm {
namespace {

std::string size_str(std::uint64_t bytes)
{
    if (bytes % GiB == 0)
        return std::to_string(bytes / GiB) + "G";
    if (bytes % MiB == 0)
        return std::to_string(bytes / MiB) + "M";
    if (bytes % KiB == 0)
        return std::to_string(bytes / KiB) + "K";
    return std::to_string(bytes) + "B";
}

[[noreturn]] void fail(const std::string& what, const std::string& todo)
{
    throw LayoutError(what + "; " + todo);
}

constexpr std::uint64_t kEntries = 512;

}  // namespace

std::uint64_t MemoryLayout::gpa_top() const
{
    std::uint64_t top = 0;
    for (const auto& s : slots)
        top = std::max(top, s.gpa + s.size);
    return top;
}

std::optional<std::uint64_t> MemoryLayout::gpa_of_page(std::uint64_t page) const
{
    for (const auto& s : slots)
        if (page >= s.first_page() && page < s.first_page() + s.pages())
            return s.gpa + (page - s.first_page()) * kPageSize;
    return std::nullopt;
}

std::optional<MemHole> default_hole(std::uint64_t ram_size)
{
    if (ram_size > 3 * GiB)
        return MemHole{3 * GiB, 1 * GiB};
    return std::nullopt;
}

MemoryLayout plan_memory(std::uint64_t ram_size, std::optional<MemHole> hole)
{
    if (ram_size < layout::kMinRam)
        fail("memory size " + size_str(ram_size) + " is too small",
             "use -m 4M or more (a multiple of 2M, e.g. -m 256M)");
    if (ram_size > layout::kMaxRam)
        fail("memory size " + size_str(ram_size) + " is too large", "use -m 64G or less");
    if (ram_size % (2 * MiB) != 0)
        fail("memory size " + size_str(ram_size) + " is not a multiple of 2M", "round -m to a multiple of 2M");

    MemoryLayout mem;
    mem.ram_size = ram_size;
    mem.hole = hole ? hole : default_hole(ram_size);
    if (mem.hole) {
        const MemHole& h = *mem.hole;
        if (h.size == 0 || h.start % kPageSize != 0 || h.size % kPageSize != 0)
            fail("hole " + size_str(h.start) + "," + size_str(h.size) + " is not a non-empty 4K-aligned range",
                 "use --hole START,SIZE with multiples of 4K, e.g. --hole 8M,1M");
        if (h.start < layout::kMinHoleStart)
            fail("hole start " + size_str(h.start) + " overlaps the dpdc-vm system area",
                 "start the hole at 4M or above");
        if (h.start >= ram_size)
            fail("hole start " + size_str(h.start) + " is not below the memory size " + size_str(ram_size),
                 "start the hole inside RAM or drop --hole");
        if (h.size > layout::kMaxGpaTop)
            fail("hole size " + size_str(h.size) + " is too large", "use a smaller --hole size");
    }

    if (!mem.hole) {
        mem.slots.push_back({0, 0, ram_size, 0});
    } else {
        const MemHole& h = *mem.hole;
        mem.slots.push_back({0, 0, h.start, 0});
        mem.slots.push_back({1, h.start + h.size, ram_size - h.start, h.start});
    }
    if (mem.gpa_top() > layout::kMaxGpaTop)
        fail("guest physical addresses would end at " + size_str(mem.gpa_top()) + ", above the " +
                 size_str(layout::kMaxGpaTop) + " dpdc-vm can map",
             "use less memory or a smaller hole");
    return mem;
}

PageTables build_page_tables(std::uint64_t gpa_top)
{
    const std::uint64_t pds = std::max<std::uint64_t>(1, (gpa_top + GiB - 1) / GiB);
    PageTables pt;
    pt.base_gpa = layout::kPageTablesGpa;
    pt.words.assign((2 + pds) * kEntries, 0);
    const std::uint64_t table_flags = pte::kPresent | pte::kWritable | pte::kAccessed | pte::kDirty;
    const std::uint64_t pdpt_gpa = pt.base_gpa + kPageSize;
    pt.words[0] = pdpt_gpa | table_flags;  // PML4[0] covers 512 GiB
    for (std::uint64_t g = 0; g < pds; ++g) {
        const std::uint64_t pd_gpa = pt.base_gpa + (2 + g) * kPageSize;
        pt.words[kEntries + g] = pd_gpa | table_flags;
        for (std::uint64_t e = 0; e < kEntries; ++e)
            pt.words[(2 + g) * kEntries + e] = (g * GiB + e * 2 * MiB) | table_flags | pte::kLargePage;
    }
    return pt;
}

std::optional<std::uint64_t> walk_page_tables(const PageTables& pt, std::uint64_t va)
{
    auto entry = [&](std::uint64_t table_gpa, std::uint64_t index) -> std::optional<std::uint64_t> {
        if (table_gpa < pt.base_gpa || (table_gpa - pt.base_gpa) % kPageSize != 0)
            return std::nullopt;
        const std::uint64_t word = (table_gpa - pt.base_gpa) / 8 + index;
        if (word >= pt.words.size())
            return std::nullopt;
        return pt.words[word];
    };
    auto e4 = entry(pt.base_gpa, (va >> 39) & 511);
    if (!e4 || !(*e4 & pte::kPresent))
        return std::nullopt;
    auto e3 = entry(*e4 & pte::kAddrMask, (va >> 30) & 511);
    if (!e3 || !(*e3 & pte::kPresent) || (*e3 & pte::kLargePage))
        return std::nullopt;
    auto e2 = entry(*e3 & pte::kAddrMask, (va >> 21) & 511);
    if (!e2 || !(*e2 & pte::kPresent) || !(*e2 & pte::kLargePage))
        return std::nullopt;
    return (*e2 & pte::kAddrMask & ~(2 * MiB - 1)) | (va & (2 * MiB - 1));
}

WorkloadArea plan_workload_area(const MemoryLayout& mem, std::uint64_t requested, std::uint32_t vcpus)
{
    WorkloadArea area;
    area.first_page = layout::kWorkloadGpa / kPageSize;
    const std::uint64_t available = mem.pages() > area.first_page ? mem.pages() - area.first_page : 0;
    if (requested > available)
        fail("workload pages=" + std::to_string(requested) + " exceeds the " + std::to_string(available) +
                 " pages of the workload area",
             "use pages=" + std::to_string(available) + " or less, or more memory (-m)");
    area.pages = requested != 0 ? requested : available;
    if (area.pages < vcpus)
        fail("the workload area has " + std::to_string(area.pages) + " pages for " + std::to_string(vcpus) +
                 " vCPUs",
             "give every vCPU at least one page (more memory or a larger pages=)");

    std::uint64_t page = area.first_page;
    std::uint64_t left = area.pages;
    for (const auto& s : mem.slots) {
        if (left == 0)
            break;
        const std::uint64_t end = s.first_page() + s.pages();
        if (page >= end)
            continue;
        const std::uint64_t from = std::max(page, s.first_page());
        const std::uint64_t n = std::min(left, end - from);
        area.ranges.push_back({s.gpa + (from - s.first_page()) * kPageSize, n});
        page = from + n;
        left -= n;
    }
    return area;
}

}  // namespace dpdc::vm
