// Guest physical layout (pure): system area addresses, memslot split,
// identity-mapped page tables and the workload area.
//
// System area (GPA == memfd offset, always inside slot 0):
//   0x001000  boot info (struct dpdc_boot_info)
//   0x002000  GDT: null, 64-bit code (0x08), data (0x10), 64-bit TSS (0x18, 16 bytes)
//   0x003000  TSS
//   0x010000  page tables: PML4, PDPT, one PD per GiB (2 MiB pages) .. 0x080000
//   0x080000  vCPU stacks, 16 KiB each, 8 vCPUs max             .. 0x0a0000
//   0x100000  guest image (64 KiB max)                           .. 0x110000
//   0x110000  zipf CDF table (u32 x 65536 max)                   .. 0x150000
//   0x200000  workload area: every RAM page from here on, incl. above the hole
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <vector>

#include "guest/boot_info.h"
#include "workload/size_parse.h"

namespace dpdc::vm {

constexpr std::uint64_t kPageSize = 4096;

namespace layout {
constexpr std::uint64_t kBootInfoGpa = 0x1000;
constexpr std::uint64_t kGdtGpa = 0x2000;
constexpr std::uint64_t kTssGpa = 0x3000;
constexpr std::uint64_t kPageTablesGpa = 0x10000;
constexpr std::uint64_t kPageTablesEnd = 0x80000;
constexpr std::uint64_t kStacksGpa = 0x80000;
constexpr std::uint64_t kStackSize = 0x4000;
constexpr std::uint32_t kMaxVcpus = 8;
constexpr std::uint64_t kGuestCodeGpa = 0x100000;
constexpr std::uint64_t kGuestCodeMax = 0x10000;
constexpr std::uint64_t kZipfTableGpa = 0x110000;
constexpr std::uint64_t kZipfMaxRanks = 65536;
constexpr std::uint64_t kWorkloadGpa = 0x200000;

constexpr std::uint16_t kCodeSelector = 0x08;
constexpr std::uint16_t kDataSelector = 0x10;
constexpr std::uint16_t kTssSelector = 0x18;
constexpr std::uint64_t kGdtEntries = 5;  // null, code, data, TSS (2 slots)
constexpr std::uint64_t kTssLimit = 0x67;

constexpr std::uint64_t kMinRam = 4 * MiB;
constexpr std::uint64_t kMaxRam = 64 * GiB;
constexpr std::uint64_t kMinHoleStart = 4 * MiB;
// One PD page maps 1 GiB; the page-table area holds PML4 + PDPT + the PDs.
constexpr std::uint64_t kMaxGpaTop = ((kPageTablesEnd - kPageTablesGpa) / kPageSize - 2) * GiB;
}  // namespace layout

// Paging-entry bits.
namespace pte {
constexpr std::uint64_t kPresent = 1u << 0;
constexpr std::uint64_t kWritable = 1u << 1;
constexpr std::uint64_t kAccessed = 1u << 5;
constexpr std::uint64_t kDirty = 1u << 6;
constexpr std::uint64_t kLargePage = 1u << 7;
constexpr std::uint64_t kAddrMask = 0x000ffffffffff000ull;
}  // namespace pte

struct MemHole {
    std::uint64_t start = 0;
    std::uint64_t size = 0;
};

struct MemSlot {
    std::uint32_t slot = 0;  // KVM slot id (address space 0)
    std::uint64_t gpa = 0;
    std::uint64_t size = 0;
    std::uint64_t memfd_offset = 0;
    std::uint64_t first_page() const { return memfd_offset / kPageSize; }
    std::uint64_t pages() const { return size / kPageSize; }
};

struct MemoryLayout {
    std::uint64_t ram_size = 0;
    std::optional<MemHole> hole;
    std::vector<MemSlot> slots;

    std::uint64_t pages() const { return ram_size / kPageSize; }
    std::uint64_t gpa_top() const;  // end of the highest slot
    std::optional<std::uint64_t> gpa_of_page(std::uint64_t page) const;
};

// Invalid memory configuration; what() is "<what is wrong>; <what to do>".
class LayoutError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// PC-like default: a 1 GiB hole at 3 GiB when RAM > 3 GiB, else none.
std::optional<MemHole> default_hole(std::uint64_t ram_size);

// Validates and splits RAM into memslots (hole = nullopt means default_hole()).
MemoryLayout plan_memory(std::uint64_t ram_size, std::optional<MemHole> hole);

struct PageTables {
    std::uint64_t base_gpa = 0;        // == CR3
    std::vector<std::uint64_t> words;  // PML4, PDPT, PDs: 512 entries each
};

// Identity map of [0, round_up(gpa_top, 1 GiB)) with 2 MiB pages, A/D pre-set.
PageTables build_page_tables(std::uint64_t gpa_top);

// Translates a virtual address through a page-table image (test/debug helper).
std::optional<std::uint64_t> walk_page_tables(const PageTables& pt, std::uint64_t va);

struct WorkloadArea {
    std::uint64_t first_page = 0;  // global page index (memfd offset / 4096)
    std::uint64_t pages = 0;
    std::vector<dpdc_range> ranges;  // GPA ranges, in page order
};

// The workload area: RAM pages from layout::kWorkloadGpa on, limited to
// `requested` pages (0 = all). Throws LayoutError if too small or too many.
WorkloadArea plan_workload_area(const MemoryLayout& mem, std::uint64_t requested, std::uint32_t vcpus);

}  // namespace dpdc::vm
