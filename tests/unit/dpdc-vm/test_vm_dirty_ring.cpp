// Dirty-ring harvesting on a fake ring in ordinary memory (no KVM needed).
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "dirty_ring.h"

using namespace dpdc::vm;

namespace {

void push(std::vector<kvm_dirty_gfn>& ring, std::uint32_t& prod, std::uint32_t slot, std::uint64_t off)
{
    kvm_dirty_gfn& e = ring[prod % ring.size()];
    e.slot = slot;
    e.offset = off;
    e.flags = KVM_DIRTY_GFN_F_DIRTY;
    ++prod;
}

using Seen = std::vector<std::pair<std::uint32_t, std::uint64_t>>;

}  // namespace

TEST(VmDirtyRing, CollectsInOrderMarksResetStopsAtFirstClean)
{
    std::vector<kvm_dirty_gfn> ring(8, kvm_dirty_gfn{});
    std::uint32_t prod = 0;
    push(ring, prod, 0, 10);
    push(ring, prod, 1, 20);
    push(ring, prod, 0, 30);
    ring[4].flags = KVM_DIRTY_GFN_F_DIRTY;  // beyond a clean entry: must not be taken
    DirtyRingView v{ring.data(), 8, 0};
    Seen seen;
    EXPECT_EQ(harvest_ring(v, [&](std::uint32_t s, std::uint64_t o) { seen.emplace_back(s, o); }), 3u);
    EXPECT_EQ(seen, (Seen{{0, 10}, {1, 20}, {0, 30}}));
    EXPECT_EQ(v.fetch, 3u);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(ring[i].flags, KVM_DIRTY_GFN_F_RESET);
    EXPECT_EQ(ring[3].flags, 0u);
    // Nothing new: nothing harvested, fetch unchanged.
    EXPECT_EQ(harvest_ring(v, [&](std::uint32_t, std::uint64_t) { FAIL(); }), 0u);
    EXPECT_EQ(v.fetch, 3u);
}

TEST(VmDirtyRing, WrapsAround)
{
    std::vector<kvm_dirty_gfn> ring(4, kvm_dirty_gfn{});
    std::uint32_t prod = 0;
    DirtyRingView v{ring.data(), 4, 0};
    for (int i = 0; i < 3; ++i)
        push(ring, prod, 0, static_cast<std::uint64_t>(i));
    EXPECT_EQ(harvest_ring(v, [](std::uint32_t, std::uint64_t) {}), 3u);
    // The kernel would now recycle the RESET entries; push 4 more (wrapping).
    for (int i = 3; i < 7; ++i)
        push(ring, prod, 0, static_cast<std::uint64_t>(i));
    Seen seen;
    EXPECT_EQ(harvest_ring(v, [&](std::uint32_t s, std::uint64_t o) { seen.emplace_back(s, o); }), 4u);
    EXPECT_EQ(seen, (Seen{{0, 3}, {0, 4}, {0, 5}, {0, 6}}));
    EXPECT_EQ(v.fetch, 7u);
}

TEST(VmDirtyRing, FullRingHarvestedOnce)
{
    std::vector<kvm_dirty_gfn> ring(4, kvm_dirty_gfn{});
    std::uint32_t prod = 0;
    for (int i = 0; i < 4; ++i)
        push(ring, prod, 0, static_cast<std::uint64_t>(i));
    DirtyRingView v{ring.data(), 4, 0};
    EXPECT_EQ(harvest_ring(v, [](std::uint32_t, std::uint64_t) {}), 4u);
    EXPECT_EQ(v.fetch, 4u);
}

TEST(VmDirtyRing, TrackerCountsPagesAcrossSlotsAndUnknown)
{
    MemoryLayout mem = plan_memory(16 * MiB, MemHole{8 * MiB, 1 * MiB});  // slot 1 starts at page 2048
    HarvestLog t(mem);
    std::vector<kvm_dirty_gfn> r0(8, kvm_dirty_gfn{}), r1(8, kvm_dirty_gfn{});
    std::uint32_t p0 = 0, p1 = 0;
    push(r0, p0, 0, 600);
    push(r0, p0, 1, 5);
    push(r1, p1, 0, 600);
    push(r1, p1, 7, 1);                   // unknown slot
    push(r1, p1, 1, 2048);                // offset out of range
    push(r1, p1, (1u << 16) | 0, 1);      // address space 1: unknown
    t.add_ring({r0.data(), 8, 0});
    t.add_ring({r1.data(), 8, 0});
    int resets = 0;
    EXPECT_EQ(t.harvest([&] { ++resets; }), 6u);
    EXPECT_EQ(resets, 1);
    t.note_full_exit();

    std::vector<std::uint32_t> counts;
    HarvestTotals tot = t.snapshot(0, t.pages(), counts);
    ASSERT_EQ(counts.size(), 4096u);
    EXPECT_EQ(counts[600], 2u);
    EXPECT_EQ(counts[2048 + 5], 1u);
    EXPECT_EQ(tot.total, 3u);
    EXPECT_EQ(tot.unknown, 3u);
    EXPECT_EQ(tot.resets, 1u);
    EXPECT_EQ(tot.full_exits, 1u);

    // A window.
    tot = t.snapshot(2050, 5, counts);
    EXPECT_EQ(counts, (std::vector<std::uint32_t>{0, 0, 0, 1, 0}));
    EXPECT_EQ(tot.total, 3u);

    // Second harvest with nothing new still resets (and counts it).
    EXPECT_EQ(t.harvest([&] { ++resets; }), 0u);
    EXPECT_EQ(t.snapshot(0, 0, counts).resets, 2u);
}
