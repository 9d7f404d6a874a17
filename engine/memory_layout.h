#pragma once
// The guest RAM layout as the tracker needs it: which KVM memslot covers
// which range of page indices (page index = byte offset in the VMM's RAM / 4096).
#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "dpdc/dirty_track.h"

namespace dpdc {

struct MemSlot {
  std::uint32_t slot = 0;  // as_id << 16 | id, as KVM reports it
  std::uint64_t gpa = 0;
  std::uint64_t first_page = 0;
  std::uint64_t pages = 0;
};

struct MemoryLayout {
  std::uint64_t pages = 0;           // size of the page numbering
  std::vector<MemSlot> slots;        // known slots
  int memfd = -1;                    // the VMM's fd number of its RAM memfd, if it told us
  bool learns_slots = false;         // slots are found from events (VMMs that don't list them)
  std::uint64_t window_pages = 0;    // with learns_slots: pages reserved per learned slot
};

// From dpdc-vm's x-dpdc-query-memory reply. Throws Error(Target) if malformed.
MemoryLayout layout_from_dpdc_vm(const nlohmann::json& reply);

// For a VMM that does not list its memslots (QEMU): `ram_bytes` of guest RAM,
// slots learned from events, each in its own window of ram_bytes.
MemoryLayout layout_learning_slots(std::uint64_t ram_bytes, unsigned windows = 2);

// Assigns the next free window to `slot`; nullopt when all windows are taken.
std::optional<MemSlot> learn_slot(MemoryLayout& layout, std::uint32_t slot);

}  // namespace dpdc
