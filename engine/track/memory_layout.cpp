#include "track/memory_layout.h"

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

}  // namespace dpdc
