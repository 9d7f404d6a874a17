#pragma once
// Base64 (RFC 4648, with padding) for device-state payloads carried in QMP
// replies. Small enough that a library dependency would cost more than it
// saves.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dpdc::stream {

std::string base64_encode(std::span<const std::uint8_t> bytes);
// Throws std::invalid_argument on characters outside the alphabet or a bad length.
std::vector<std::uint8_t> base64_decode(std::string_view text);

}  // namespace dpdc::stream
