// The embedded guest image (built from guest/ at build time).
#pragma once

#include <cstdint>
#include <span>

namespace dpdc::vm {

// Flat binary to be copied to guest_layout::kGuestCodeGpa; entry point = its first byte.
std::span<const std::uint8_t> guest_image();

}  // namespace dpdc::vm
