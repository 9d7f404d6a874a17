// The dpdc-vm the incoming_loader target loads into, shared with the seed
// writer so that seeds fit it exactly.
#pragma once

#include <cstddef>
#include <cstdint>

#include "device_state.h"

namespace dpdc::fuzz {

inline constexpr std::size_t kLoaderRamBytes = std::size_t{4} << 20;  // dpdc-vm's smallest -m
inline constexpr std::uint32_t kLoaderVcpus = 2;

vm::MachineState loader_machine();

}  // namespace dpdc::fuzz
