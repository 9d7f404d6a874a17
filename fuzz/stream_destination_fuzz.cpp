// The stream reader as a destination drives it: bytes fed in pieces as a
// socket delivers them, the vmdesc skipped (ReaderOptions as dpdc-vm sets
// them), then finish(). Input: the stream, then a 4-byte trailer (seed of
// the piece sizes, largest piece); see fuzz/README.md.
//
// Besides sanitizer reports, the target checks the reader's promise that an
// incomplete item is retried unchanged: fed in pieces, it must produce the
// same events, in the same order, and fail with the same message, as fed
// the whole stream at once.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "event_digest.h"
#include "stream/stream_reader.h"

namespace {

using dpdc::stream::ReaderOptions;
using dpdc::stream::StreamError;
using dpdc::stream::StreamReader;

struct Outcome {
  std::vector<std::string> events;
  std::string error;  // empty: the stream was read to its end
};

// Small limits, so that the fuzzer reaches them with small inputs.
ReaderOptions destination_options() {
  ReaderOptions o;
  o.parse_vmdesc = false;
  o.max_device_payload_bytes = 64 << 10;
  o.max_vmdesc_bytes = 16 << 10;
  return o;
}

void drain(StreamReader& reader, Outcome& out) {
  while (auto ev = reader.next()) out.events.push_back(dpdc::fuzz::digest(*ev));
}

// As read_all() does: the whole input, known complete before the first item.
Outcome read_whole(std::span<const std::uint8_t> bytes) {
  Outcome out;
  StreamReader reader(destination_options());
  try {
    reader.feed(bytes);
    reader.finish();
    drain(reader, out);
  } catch (const StreamError& e) {
    out.error = e.what();
  }
  return out;
}

// As a destination does: pieces of 1..largest bytes, each parsed as far as it goes.
Outcome read_in_pieces(std::span<const std::uint8_t> bytes, std::uint32_t seed, std::size_t largest) {
  Outcome out;
  StreamReader reader(destination_options());
  std::minstd_rand rng(seed);
  try {
    for (std::size_t off = 0; off < bytes.size();) {
      const std::size_t n = std::min<std::size_t>(bytes.size() - off, 1 + rng() % largest);
      reader.feed(bytes.subspan(off, n));
      off += n;
      drain(reader, out);
    }
    reader.finish();
    drain(reader, out);
  } catch (const StreamError& e) {
    out.error = e.what();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto largest = in.ConsumeIntegralInRange<std::size_t>(1, 256) * 64;
  const auto seed = in.ConsumeIntegral<std::uint16_t>();
  const std::vector<std::uint8_t> stream = in.ConsumeRemainingBytes<std::uint8_t>();

  const Outcome whole = read_whole(stream);
  const Outcome pieces = read_in_pieces(stream, seed, largest);
  if (whole.events != pieces.events || whole.error != pieces.error) {
    std::fprintf(stderr, "stream read in pieces of up to %zu bytes differs from the whole:\n  whole:  %zu events, %s\n"
                         "  pieces: %zu events, %s\n",
                 largest, whole.events.size(), whole.error.c_str(), pieces.events.size(), pieces.error.c_str());
    for (std::size_t i = 0; i < std::max(whole.events.size(), pieces.events.size()); ++i) {
      const char* a = i < whole.events.size() ? whole.events[i].c_str() : "-";
      const char* b = i < pieces.events.size() ? pieces.events[i].c_str() : "-";
      if (whole.events.size() <= i || pieces.events.size() <= i || whole.events[i] != pieces.events[i])
        std::fprintf(stderr, "  event %zu: whole %s | pieces %s\n", i, a, b);
    }
    std::abort();
  }
  return 0;
}
