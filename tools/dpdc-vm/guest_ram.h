// Guest RAM: one shared memfd mapped MAP_SHARED (the engine maps the same memfd
// through /proc/<pid>/fd/<memfd>).
#pragma once

#include <cstdint>
#include <span>

#include "sys.h"

namespace dpdc::vm {

class GuestRam {
public:
    explicit GuestRam(std::uint64_t size);

    int fd() const { return memfd_.get(); }
    std::uint64_t size() const { return map_.size(); }
    std::uint8_t* data() const { return map_.as<std::uint8_t>(); }
    // Copies bytes to memfd offset `offset`; throws std::out_of_range if it does not fit.
    void write(std::uint64_t offset, std::span<const std::uint8_t> bytes);

private:
    UniqueFd memfd_;
    Mapping map_;
};

}  // namespace dpdc::vm
