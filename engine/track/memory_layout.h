#pragma once
// The guest RAM layout as the tracker needs it: which KVM memslot covers
// which range of page indices (page index = byte offset in the VMM's RAM /
// 4096), or, for a VMM that does not list its memslots (QEMU), where its RAM
// is mapped, so that the tracker reads the memslots from KVM and places them.
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
  std::vector<MemSlot> slots;        // slots the VMM listed
  std::vector<dpdc_region> regions;  // where its RAM is mapped (VMMs that list no slots)
  int memfd = -1;                    // the VMM's fd number of its RAM memfd, if it told us
};

// From dpdc-vm's x-dpdc-query-memory reply. Throws Error(Target) if malformed.
MemoryLayout layout_from_dpdc_vm(const nlohmann::json& reply);

}  // namespace dpdc
