#include "memory_layout.h"

#include <algorithm>

#include "dpdc/error.h"

namespace dpdc {

MemoryLayout layout_from_dpdc_vm(const nlohmann::json& reply) {
  try {
    MemoryLayout layout;
    if (reply.at("page-size").get<std::uint64_t>() != DPDC_PAGE_SIZE) {
      throw Error(ErrorKind::Target, "the VMM uses a page size other than 4096; not supported");
    }
    layout.pages = reply.at("pages").get<std::uint64_t>();
    layout.memfd = reply.value("memfd", -1);
    for (const auto& s : reply.at("slots")) {
      MemSlot m;
      m.slot = (s.value("as", 0u) << 16) | s.at("slot").get<std::uint32_t>();
      m.gpa = s.at("gpa").get<std::uint64_t>();
      m.first_page = s.at("first-page").get<std::uint64_t>();
      m.pages = s.at("size").get<std::uint64_t>() / DPDC_PAGE_SIZE;
      if (m.first_page + m.pages > layout.pages) {
        throw Error(ErrorKind::Target, "the VMM reported memslot " + std::to_string(m.slot) +
                                           " beyond its RAM size; its memory layout is inconsistent");
      }
      layout.slots.push_back(m);
    }
    if (layout.pages == 0 || layout.slots.empty()) {
      throw Error(ErrorKind::Target, "the VMM reported no guest RAM");
    }
    return layout;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::Target, std::string("malformed x-dpdc-query-memory reply: ") + e.what());
  }
}

MemoryLayout layout_learning_slots(std::uint64_t ram_bytes, unsigned windows) {
  MemoryLayout layout;
  layout.learns_slots = true;
  layout.window_pages = (ram_bytes + DPDC_PAGE_SIZE - 1) / DPDC_PAGE_SIZE;
  layout.pages = layout.window_pages * std::max(1u, windows);
  return layout;
}

std::optional<MemSlot> learn_slot(MemoryLayout& layout, std::uint32_t slot) {
  if (!layout.learns_slots) return std::nullopt;
  auto known = std::find_if(layout.slots.begin(), layout.slots.end(),
                            [&](const MemSlot& m) { return m.slot == slot; });
  if (known != layout.slots.end()) return *known;
  std::uint64_t first = layout.slots.size() * layout.window_pages;
  if (first + layout.window_pages > layout.pages) return std::nullopt;
  MemSlot m{slot, 0, first, layout.window_pages};
  layout.slots.push_back(m);
  return m;
}

}  // namespace dpdc
