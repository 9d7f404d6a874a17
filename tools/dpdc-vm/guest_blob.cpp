#include "guest_blob.h"

extern "C" {
extern const std::uint8_t dpdc_guest_image_start[];
extern const std::uint8_t dpdc_guest_image_end[];
}

namespace dpdc::vm {

std::span<const std::uint8_t> guest_image()
{
    return {dpdc_guest_image_start, dpdc_guest_image_end};
}

}  // namespace dpdc::vm
