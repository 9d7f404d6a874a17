// Guest memory layout, page tables and the boot image (no KVM needed).
#include <gtest/gtest.h>

#include <cstring>

#include "boot_image.h"
#include "guest_blob.h"
#include "guest_layout.h"

using namespace dpdc::vm;

TEST(VmGuestLayout, SingleSlotWithoutHole)
{
    MemoryLayout m = plan_memory(256 * MiB, std::nullopt);
    ASSERT_EQ(m.slots.size(), 1u);
    EXPECT_EQ(m.slots[0].slot, 0u);
    EXPECT_EQ(m.slots[0].gpa, 0u);
    EXPECT_EQ(m.slots[0].size, 256 * MiB);
    EXPECT_EQ(m.slots[0].memfd_offset, 0u);
    EXPECT_EQ(m.pages(), 65536u);
    EXPECT_EQ(m.gpa_top(), 256 * MiB);
    EXPECT_FALSE(plan_memory(3 * GiB, std::nullopt).hole.has_value());
}

TEST(VmGuestLayout, DefaultHoleAbove3G)
{
    MemoryLayout m = plan_memory(8 * GiB, std::nullopt);
    ASSERT_EQ(m.slots.size(), 2u);
    EXPECT_EQ(m.slots[0].gpa, 0u);
    EXPECT_EQ(m.slots[0].size, 3 * GiB);
    EXPECT_EQ(m.slots[1].slot, 1u);
    EXPECT_EQ(m.slots[1].gpa, 4 * GiB);
    EXPECT_EQ(m.slots[1].size, 5 * GiB);
    EXPECT_EQ(m.slots[1].memfd_offset, 3 * GiB);
    EXPECT_EQ(m.slots[1].first_page(), 3 * GiB / 4096);
    EXPECT_EQ(m.gpa_top(), 9 * GiB);
}

TEST(VmGuestLayout, ForcedSmallHole)
{
    MemoryLayout m = plan_memory(16 * MiB, MemHole{8 * MiB, 1 * MiB});
    ASSERT_EQ(m.slots.size(), 2u);
    EXPECT_EQ(m.slots[0].size, 8 * MiB);
    EXPECT_EQ(m.slots[1].gpa, 9 * MiB);
    EXPECT_EQ(m.slots[1].size, 8 * MiB);
    EXPECT_EQ(m.slots[1].memfd_offset, 8 * MiB);
    EXPECT_EQ(m.gpa_of_page(2047), 8 * MiB - 4096);
    EXPECT_EQ(m.gpa_of_page(2048), 9 * MiB);
    EXPECT_EQ(m.gpa_of_page(4095), 17 * MiB - 4096);
    EXPECT_FALSE(m.gpa_of_page(4096).has_value());
}

TEST(VmGuestLayout, Errors)
{
    EXPECT_THROW(plan_memory(2 * MiB, std::nullopt), LayoutError);
    EXPECT_THROW(plan_memory(5 * MiB, std::nullopt), LayoutError);
    EXPECT_THROW(plan_memory(16 * MiB, MemHole{2 * MiB, 1 * MiB}), LayoutError);
    EXPECT_THROW(plan_memory(16 * MiB, MemHole{16 * MiB, 1 * MiB}), LayoutError);
    EXPECT_THROW(plan_memory(16 * MiB, MemHole{8 * MiB, 0}), LayoutError);
    EXPECT_THROW(plan_memory(16 * MiB, MemHole{8 * MiB + 1, 4096}), LayoutError);
}

TEST(VmGuestLayout, PageTablesCoverAllRamWithAccessedAndDirty)
{
    for (auto [ram, hole] : {std::pair{256 * MiB, std::optional<MemHole>{}},
                             std::pair{16 * MiB, std::optional<MemHole>{MemHole{8 * MiB, 1 * MiB}}},
                             std::pair{8 * GiB, std::optional<MemHole>{}}}) {
        MemoryLayout m = plan_memory(ram, hole);
        PageTables pt = build_page_tables(m.gpa_top());
        EXPECT_EQ(pt.base_gpa, layout::kPageTablesGpa);
        EXPECT_LE(pt.base_gpa + pt.words.size() * 8, layout::kPageTablesEnd);
        for (const auto& s : m.slots) {
            for (std::uint64_t gpa = s.gpa; gpa < s.gpa + s.size; gpa += 2 * MiB) {
                ASSERT_EQ(walk_page_tables(pt, gpa), gpa);
                ASSERT_EQ(walk_page_tables(pt, gpa + 0x1234), gpa + 0x1234);
            }
            const std::uint64_t last = s.gpa + s.size - 8;
            ASSERT_EQ(walk_page_tables(pt, last), last);
        }
        for (std::uint64_t w : pt.words) {
            if (w & pte::kPresent) {
                EXPECT_TRUE(w & pte::kAccessed);
                EXPECT_TRUE(w & pte::kDirty);
                EXPECT_TRUE(w & pte::kWritable);
            }
        }
    }
}

TEST(VmGuestLayout, WorkloadAreaAcrossTheHole)
{
    MemoryLayout m = plan_memory(16 * MiB, MemHole{8 * MiB, 1 * MiB});
    WorkloadArea a = plan_workload_area(m, 0, 1);
    EXPECT_EQ(a.first_page, layout::kWorkloadGpa / 4096);
    EXPECT_EQ(a.pages, 4096u - 512u);
    ASSERT_EQ(a.ranges.size(), 2u);
    EXPECT_EQ(a.ranges[0].gpa, 2 * MiB);
    EXPECT_EQ(a.ranges[0].pages, 1536u);
    EXPECT_EQ(a.ranges[1].gpa, 9 * MiB);
    EXPECT_EQ(a.ranges[1].pages, 2048u);

    WorkloadArea small = plan_workload_area(m, 100, 4);
    EXPECT_EQ(small.pages, 100u);
    ASSERT_EQ(small.ranges.size(), 1u);
    EXPECT_THROW(plan_workload_area(m, 4000, 1), LayoutError);
    EXPECT_THROW(plan_workload_area(m, 3, 4), LayoutError);
}

TEST(VmGuestLayout, SystemAreaFitsBeforeWorkload)
{
    static_assert(layout::kStacksGpa + layout::kMaxVcpus * layout::kStackSize <= layout::kGuestCodeGpa);
    static_assert(layout::kGuestCodeGpa + layout::kGuestCodeMax <= layout::kZipfTableGpa);
    static_assert(layout::kZipfTableGpa + layout::kZipfMaxRanks * 4 <= layout::kWorkloadGpa);
    static_assert(sizeof(dpdc_boot_info) <= layout::kGdtGpa - layout::kBootInfoGpa);
    static_assert(sizeof(dpdc_boot_info) % 8 == 0);
    SUCCEED();
}

TEST(VmBootImage, BlobsAndBootInfo)
{
    MemoryLayout m = plan_memory(16 * MiB, MemHole{8 * MiB, 1 * MiB});
    WorkloadArea a = plan_workload_area(m, 0, 2);
    WorkloadSpec spec = parse_workload_spec("zipf,s=1.2,rounds=3,sync=on,seed=9");
    BootImage img = build_boot_image(m, a, spec, 2, guest_image());
    EXPECT_EQ(img.cr3, layout::kPageTablesGpa);
    const dpdc_boot_info& bi = img.info;
    EXPECT_EQ(bi.magic, DPDC_BOOT_MAGIC);
    EXPECT_EQ(bi.workload, static_cast<std::uint32_t>(DPDC_WL_ZIPF));
    EXPECT_EQ(bi.nr_vcpus, 2u);
    EXPECT_EQ(bi.pages, a.pages);
    EXPECT_EQ(bi.rounds, 3u);
    EXPECT_EQ(bi.sync, 1u);
    EXPECT_EQ(bi.seed, 9u);
    EXPECT_EQ(bi.nr_ranges, 2u);
    EXPECT_EQ(bi.ranges[1].gpa, 9 * MiB);
    EXPECT_EQ(bi.zipf_ranks, a.pages);
    EXPECT_EQ(bi.zipf_table_gpa, layout::kZipfTableGpa);

    bool saw_code = false, saw_info = false;
    for (std::size_t i = 0; i < img.blobs.size(); ++i) {
        const BootBlob& b = img.blobs[i];
        EXPECT_LE(b.gpa + b.bytes.size(), layout::kWorkloadGpa);  // all in the system area
        for (std::size_t j = i + 1; j < img.blobs.size(); ++j) {
            const BootBlob& o = img.blobs[j];
            EXPECT_TRUE(b.gpa + b.bytes.size() <= o.gpa || o.gpa + o.bytes.size() <= b.gpa) << i << " vs " << j;
        }
        if (b.gpa == layout::kGuestCodeGpa) {
            saw_code = true;
            EXPECT_GT(b.bytes.size(), 16u);
        }
        if (b.gpa == layout::kBootInfoGpa) {
            saw_info = true;
            ASSERT_EQ(b.bytes.size(), sizeof(dpdc_boot_info));
            EXPECT_EQ(std::memcmp(b.bytes.data(), &bi, sizeof(bi)), 0);
        }
    }
    EXPECT_TRUE(saw_code);
    EXPECT_TRUE(saw_info);
}

TEST(VmBootImage, GdtAndEntry)
{
    auto gdt = build_gdt();
    ASSERT_EQ(gdt.size(), layout::kGdtEntries);
    EXPECT_EQ(gdt[0], 0u);
    const std::uint64_t code = gdt[layout::kCodeSelector / 8];
    EXPECT_TRUE(code & (1ull << 53));   // L
    EXPECT_TRUE(code & (1ull << 47));   // P
    EXPECT_TRUE(code & (1ull << 40));   // accessed
    EXPECT_TRUE(gdt[layout::kDataSelector / 8] & (1ull << 40));
    VcpuEntry e0 = vcpu_entry(0), e3 = vcpu_entry(3);
    EXPECT_EQ(e0.rip, layout::kGuestCodeGpa);
    EXPECT_EQ(e3.rdi, 3u);
    EXPECT_EQ(e3.rsi, layout::kBootInfoGpa);
    EXPECT_EQ(e3.rflags, 2u);
    EXPECT_EQ(e0.rsp % 16, 0u);
    EXPECT_EQ(e3.rsp, layout::kStacksGpa + 4 * layout::kStackSize);
    EXPECT_LE(vcpu_entry(layout::kMaxVcpus - 1).rsp, layout::kGuestCodeGpa);
}

TEST(VmBootImage, GuestImageIsEmbedded)
{
    auto img = guest_image();
    ASSERT_GT(img.size(), 16u);
    EXPECT_LE(img.size(), layout::kGuestCodeMax);
    EXPECT_EQ(img[0], 0xfc);  // cld at _start
}
