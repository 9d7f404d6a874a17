// The stream reader as `dpdc-engine inspect` and the engine's switchover use
// it: a whole stream in memory, read to its end, then rendered; and the same
// bytes as a stopped QEMU's device-state stream the engine splices.
// A StreamError (or the capture's Error) is the expected answer to a bad
// stream; anything else escaping, or a sanitizer report, is a defect.
#include <cstddef>
#include <cstdint>
#include <span>

#include "dpdc/error.h"
#include "qemu/qemu_device_capture.h"
#include "stream/stream_inspect.h"
#include "stream/stream_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  try {
    const auto report = dpdc::stream::inspect(bytes);
    (void)dpdc::stream::render_text(report);
    (void)dpdc::stream::render_json(report);
  } catch (const dpdc::stream::StreamError&) {
  }
  try {
    (void)dpdc::capture_qemu_stream(bytes);
  } catch (const dpdc::Error&) {
  }
  return 0;
}
