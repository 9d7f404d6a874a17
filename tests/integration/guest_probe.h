#pragma once
// What a test reads of a running dpdc-guest under QEMU: its status block
// (guest_status.h) through QMP pmemsave, and the engine's JSON Lines output.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "guest_status.h"
#include "qemu_process.h"
#include "temp_dir.h"

namespace dpdc::test {

// The guest's status block, zeroed if QEMU could not save it.
dpdc_guest_status read_guest_status(Qemu& q, const TempDir& dir);
// Rounds the guest has finished, 0 before its status block is valid.
std::uint64_t guest_rounds(Qemu& q, const TempDir& dir);
// The first JSON Lines object of `out` whose "type" is `type`, or null.
nlohmann::json json_line_of_type(const std::string& out, const std::string& type);

}  // namespace dpdc::test
