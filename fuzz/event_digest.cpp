#include "event_digest.h"

#include <xxhash.h>

#include <span>
#include <type_traits>
#include <variant>

namespace dpdc::fuzz {
namespace {

std::string hash(std::span<const std::uint8_t> bytes) {
  return std::to_string(bytes.size()) + "#" + std::to_string(XXH3_64bits(bytes.data(), bytes.size()));
}

std::string field(const char* name, std::uint64_t value) { return std::string(" ") + name + "=" + std::to_string(value); }

}  // namespace

std::string digest(const stream::Event& event) {
  return std::visit(
      [](const auto& e) -> std::string {
        using T = std::decay_t<decltype(e)>;
        using namespace stream;
        if constexpr (std::is_same_v<T, HeaderEvent>) {
          return "header" + field("version", e.version);
        } else if constexpr (std::is_same_v<T, ConfigurationEvent>) {
          std::string s = "configuration '" + e.machine + "'";
          for (const auto& c : e.capabilities) s += " cap '" + c + "'";
          if (e.target_page_bits) s += field("page_bits", *e.target_page_bits);
          return s;
        } else if constexpr (std::is_same_v<T, SectionBeginEvent>) {
          return "begin" + field("at", e.offset) + field("type", static_cast<unsigned>(e.type)) +
                 field("id", e.section_id) + " '" + e.idstr + "'" + field("instance", e.instance_id) +
                 field("version", e.version_id);
        } else if constexpr (std::is_same_v<T, RamSetupEvent>) {
          std::string s = "setup" + field("total", e.total_bytes);
          for (const auto& b : e.blocks) s += " '" + b.idstr + "'" + field("len", b.used_length) + field("gpa", b.gpa.value_or(~0ull));
          return s;
        } else if constexpr (std::is_same_v<T, RamPageEvent>) {
          return "page" + field("block", e.block) + field("offset", e.offset) + field("zero", e.zero) +
                 field("fill", e.fill) + " " + hash(e.data) + field("wire", e.wire_bytes);
        } else if constexpr (std::is_same_v<T, SectionEndEvent>) {
          return "end" + field("type", static_cast<unsigned>(e.type)) + field("id", e.section_id) + field("size", e.size);
        } else if constexpr (std::is_same_v<T, DeviceSectionEvent>) {
          return "device" + field("at", e.offset) + field("type", static_cast<unsigned>(e.type)) +
                 field("id", e.section_id) + " '" + e.idstr + "'" + field("instance", e.instance_id) +
                 field("version", e.version_id) + " " + hash(e.payload) + field("size", e.size);
        } else if constexpr (std::is_same_v<T, CommandEvent>) {
          return "command" + field("at", e.offset) + field("command", e.command) + " " + hash(e.data);
        } else if constexpr (std::is_same_v<T, EofEvent>) {
          return "eof" + field("at", e.offset);
        } else {
          static_assert(std::is_same_v<T, VmdescEvent>);
          return "vmdesc" + field("at", e.offset) + " " + e.json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
      },
      event);
}

}  // namespace dpdc::fuzz
