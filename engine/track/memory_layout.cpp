#include "track/memory_layout.h"

#include <algorithm>

#include "dpdc/error.h"

namespace dpdc {

namespace {

// A member that must be a whole number in [0, max]. nlohmann's get<>()
// converts any number, and a float out of range that way is undefined
// behaviour; so is a negative one wrapped into an index.
std::uint64_t whole(const nlohmann::json& object, const char* key, std::uint64_t max = UINT64_MAX) {
  const nlohmann::json& v = object.at(key);
  const bool natural = v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
  if (!natural || v.get<std::uint64_t>() > max) {
    throw Error(ErrorKind::Target, std::string("malformed x-dpdc-query-memory reply: '") + key +
                                       "' is not a whole number up to " + std::to_string(max));
  }
  return v.get<std::uint64_t>();
}

}  // namespace

MemoryLayout layout_from_dpdc_vm(const nlohmann::json& reply) {
  try {
    MemoryLayout layout;
    if (whole(reply, "page-size") != DPDC_PAGE_SIZE) {
      throw Error(ErrorKind::Target, "the VMM uses a page size other than 4096; not supported");
    }
    layout.pages = whole(reply, "pages");
    layout.memfd = reply.contains("memfd") ? static_cast<int>(whole(reply, "memfd", INT32_MAX)) : -1;
    for (const auto& s : reply.at("slots")) {
      MemSlot m;
      const auto as = s.contains("as") ? whole(s, "as", 0xffff) : 0;
      m.slot = static_cast<std::uint32_t>(as << 16 | whole(s, "slot", 0xffff));
      m.gpa = whole(s, "gpa");
      m.first_page = whole(s, "first-page");
      m.pages = whole(s, "size") / DPDC_PAGE_SIZE;
      // Said without the sum, which a hostile first page would wrap.
      if (m.first_page > layout.pages || m.pages > layout.pages - m.first_page) {
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
