// The trace file reader (`simulate`, `profile`): a file's bytes decoded.
// dpdc::Error is the expected answer to a bad file. A trace accepted keeps
// the promises its readers rely on: events in time order, every page inside
// the guest, the duration covering every event; and it encodes back to a
// file that decodes to the same trace.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "dpdc/error.h"
#include "trace/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dpdc::Trace t;
  try {
    t = dpdc::decode_trace(std::span<const std::uint8_t>(data, size));
  } catch (const dpdc::Error&) {
    return 0;
  }
  for (std::size_t i = 0; i < t.events.size(); ++i) {
    const auto& e = t.events[i];
    if (e.page >= t.pages || e.t_ns > t.duration_ns) std::abort();
    if (i > 0 && t.events[i - 1].t_ns > e.t_ns) std::abort();
  }
  const dpdc::Trace back = dpdc::decode_trace(dpdc::encode_trace(t));
  if (back.pages != t.pages || back.duration_ns != t.duration_ns || back.events != t.events) std::abort();
  return 0;
}
