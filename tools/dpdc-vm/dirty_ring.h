// KVM dirty-ring harvesting (QEMU-style reaper) and per-page harvest counters.
// The ring walk works on any array of struct kvm_dirty_gfn, so it is unit-tested
// on a fake ring in ordinary memory.
#pragma once

#include "dpdc/kvm_uapi.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "guest_layout.h"

namespace dpdc::vm {

// One vCPU's ring: `entries` (power of two) kvm_dirty_gfn, plus our fetch index.
struct DirtyRingView {
    kvm_dirty_gfn* gfns = nullptr;
    std::uint32_t entries = 0;
    std::uint32_t fetch = 0;  // free-running; slot = fetch & (entries - 1)
};

// From ring.fetch on, while the entry's flags has KVM_DIRTY_GFN_F_DIRTY
// (load-acquire): sink(slot, offset), flags = KVM_DIRTY_GFN_F_RESET (store-release),
// advance. Visits at most `entries` entries. Returns the number harvested.
std::uint32_t harvest_ring(DirtyRingView& ring, const std::function<void(std::uint32_t, std::uint64_t)>& sink);

struct HarvestTotals {
    std::uint64_t total = 0;       // sum of all per-page counts
    std::uint64_t unknown = 0;     // entries with an unknown slot or out-of-range offset
    std::uint64_t resets = 0;      // KVM_RESET_DIRTY_RINGS calls
    std::uint64_t full_exits = 0;  // KVM_EXIT_DIRTY_RING_FULL exits seen
};

// Per-page harvest counters plus the ring set; harvest() is serialized by a mutex.
class HarvestLog {
public:
    explicit HarvestLog(const MemoryLayout& mem);

    // Registers a vCPU ring (before the first harvest).
    void add_ring(DirtyRingView ring);

    // Harvests every ring, then calls reset() (KVM_RESET_DIRTY_RINGS) once and
    // counts it. Returns the number of entries harvested.
    std::uint64_t harvest(const std::function<void()>& reset);

    // Counts one ring entry (slot = as_id << 16 | slot_id). Caller holds no lock;
    // used by harvest() and by tests.
    void record(std::uint32_t slot, std::uint64_t offset);

    void note_full_exit() { full_exits_.fetch_add(1, std::memory_order_relaxed); }

    // Consistent snapshot of counts[first, first + count) and the totals.
    HarvestTotals snapshot(std::uint64_t first, std::uint64_t count, std::vector<std::uint32_t>& counts) const;
    std::uint64_t pages() const { return counts_.size(); }

private:
    void record_locked(std::uint32_t slot, std::uint64_t offset);

    struct SlotInfo {
        std::uint64_t first_page;
        std::uint64_t pages;
    };
    mutable std::mutex mu_;
    std::vector<SlotInfo> slots_;  // indexed by slot id (address space 0)
    std::vector<DirtyRingView> rings_;
    std::vector<std::uint32_t> counts_;
    HarvestTotals totals_;
    std::atomic<std::uint64_t> full_exits_{0};
};

}  // namespace dpdc::vm
