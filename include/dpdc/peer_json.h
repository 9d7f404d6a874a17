#pragma once
// JSON that comes from a peer: a QMP client of dpdc-vm, the QMP server the
// engine talks to, the vmdesc at the end of a migration stream.
//
// What it promises over nlohmann::json::parse:
//  - nesting deeper than kMaxPeerJsonDepth is refused while parsing, before
//    the value exists. nlohmann::json copies and dumps values recursively,
//    so a request of 100,000 nested arrays, once parsed, overflows the stack
//    of whoever copies it (dpdc-vm echoing a QMP `id`); no document the
//    project exchanges nests deeper than a few levels.
//  - every failure, syntax or a number outside double range (`4e3000`,
//    which nlohmann reports as out_of_range rather than parse_error), is one
//    PeerJsonError whose message says what was wrong, so a caller that
//    catches it never lets another exception end a session.
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dpdc {

inline constexpr int kMaxPeerJsonDepth = 64;

class PeerJsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline nlohmann::json parse_peer_json(std::string_view text, int max_depth = kMaxPeerJsonDepth) {
  // The callback sees each opening bracket with the depth of its container;
  // throwing there stops the parser before anything deeper is built.
  auto limit = [max_depth](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        depth >= max_depth) {
      throw PeerJsonError("JSON nested deeper than " + std::to_string(max_depth) + " levels");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), limit);
  } catch (const nlohmann::json::exception& e) {
    throw PeerJsonError(e.what());
  }
}

}  // namespace dpdc
