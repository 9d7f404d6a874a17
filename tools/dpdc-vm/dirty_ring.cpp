#include "dirty_ring.h"

#include <algorithm>

namespace dpdc::vm {

std::uint32_t harvest_ring(DirtyRingView& ring, const std::function<void(std::uint32_t, std::uint64_t)>& sink)
{
    std::uint32_t n = 0;
    const std::uint32_t mask = ring.entries - 1;
    while (n < ring.entries) {
        kvm_dirty_gfn& e = ring.gfns[ring.fetch & mask];
        std::atomic_ref<std::uint32_t> flags(e.flags);
        if ((flags.load(std::memory_order_acquire) & KVM_DIRTY_GFN_F_DIRTY) == 0)
            break;
        sink(e.slot, e.offset);
        flags.store(KVM_DIRTY_GFN_F_RESET, std::memory_order_release);
        ++ring.fetch;
        ++n;
    }
    return n;
}

HarvestLog::HarvestLog(const MemoryLayout& mem) : counts_(mem.pages(), 0)
{
    for (const auto& s : mem.slots) {
        if (slots_.size() <= s.slot)
            slots_.resize(s.slot + 1, SlotInfo{0, 0});
        slots_[s.slot] = {s.first_page(), s.pages()};
    }
}

void HarvestLog::add_ring(DirtyRingView ring)
{
    std::lock_guard lock(mu_);
    rings_.push_back(ring);
}

void HarvestLog::record_locked(std::uint32_t slot, std::uint64_t offset)
{
    const std::uint32_t as_id = slot >> 16;
    const std::uint32_t id = slot & 0xffff;
    if (as_id != 0 || id >= slots_.size() || offset >= slots_[id].pages) {
        ++totals_.unknown;
        return;
    }
    ++counts_[slots_[id].first_page + offset];
    ++totals_.total;
}

void HarvestLog::record(std::uint32_t slot, std::uint64_t offset)
{
    std::lock_guard lock(mu_);
    record_locked(slot, offset);
}

std::uint64_t HarvestLog::harvest(const std::function<void()>& reset)
{
    std::lock_guard lock(mu_);
    std::uint64_t n = 0;
    for (auto& ring : rings_)
        n += harvest_ring(ring, [this](std::uint32_t slot, std::uint64_t offset) { record_locked(slot, offset); });
    reset();
    ++totals_.resets;
    return n;
}

HarvestTotals HarvestLog::snapshot(std::uint64_t first, std::uint64_t count, std::vector<std::uint32_t>& counts) const
{
    std::lock_guard lock(mu_);
    first = std::min<std::uint64_t>(first, counts_.size());
    count = std::min<std::uint64_t>(count, counts_.size() - first);
    counts.assign(counts_.begin() + static_cast<std::ptrdiff_t>(first),
                  counts_.begin() + static_cast<std::ptrdiff_t>(first + count));
    HarvestTotals t = totals_;
    t.full_exits = full_exits_.load(std::memory_order_relaxed);
    return t;
}

}  // namespace dpdc::vm
