// One line per stream event, for comparing two readings of the same stream:
// every field the reader reports, page and payload bytes as a checksum.
#pragma once

#include <string>

#include "stream/stream_reader.h"

namespace dpdc::fuzz {

std::string digest(const stream::Event& event);

}  // namespace dpdc::fuzz
