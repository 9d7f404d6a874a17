// JSON from peers: a depth limit while parsing, one error type for every failure.
#include <gtest/gtest.h>

#include <string>

#include "dpdc/peer_json.h"

namespace dpdc {
namespace {

std::string nested_arrays(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(PeerJson, ParsesWhatPeersSend) {
  auto j = parse_peer_json(R"({"execute": "query-status", "id": {"a": [1, 2, {"b": null}]}})");
  EXPECT_EQ(j["execute"], "query-status");
  EXPECT_EQ(j["id"]["a"][2]["b"], nullptr);
  EXPECT_EQ(parse_peer_json(nested_arrays(kMaxPeerJsonDepth)).dump().size(), 2u * kMaxPeerJsonDepth);
}

TEST(PeerJson, RefusesNestingDeeperThanTheLimitBeforeBuildingIt) {
  for (int depth : {kMaxPeerJsonDepth + 1, 100000}) {
    try {
      parse_peer_json(nested_arrays(depth));
      ADD_FAILURE() << depth << " levels parsed";
    } catch (const PeerJsonError& e) {
      EXPECT_STREQ(e.what(), "JSON nested deeper than 64 levels");
    }
  }
  // Objects count as well as arrays, and the limit is a parameter.
  EXPECT_THROW(parse_peer_json(R"({"a": {"b": {}}})", 2), PeerJsonError);
  EXPECT_NO_THROW(parse_peer_json(R"({"a": {"b": 1}})", 2));
}

TEST(PeerJson, EveryFailureIsOneErrorType) {
  // nlohmann reports an out-of-range number as out_of_range, not parse_error.
  for (const char* bad : {"4e3000", "{\"id\": -4e3000}", "{\"execute\": ", "", "\x01"}) {
    EXPECT_THROW(parse_peer_json(bad), PeerJsonError) << bad;
  }
}

}  // namespace
}  // namespace dpdc
