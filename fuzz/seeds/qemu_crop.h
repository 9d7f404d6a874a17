// Makes a QEMU migration stream small enough for a seed corpus while keeping
// QEMU's own framing: every PAGE record after the first `keep_pages` becomes
// a ZERO record (same header, same block name), everything else (section
// ids, device state, vmdesc) stays byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace dpdc::fuzz {

// Throws stream::StreamError if `stream` does not parse.
std::vector<std::uint8_t> crop_qemu_stream(std::span<const std::uint8_t> stream, std::size_t keep_pages);

}  // namespace dpdc::fuzz
