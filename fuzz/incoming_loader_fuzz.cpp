// dpdc-vm's destination side: a stream fed in pieces into IncomingLoader,
// which writes pages straight into guest RAM. The RAM lies between
// inaccessible guard pages (guarded_ram.h), so a page written outside it
// faults. The local machine is fixed (4 MiB, the smallest dpdc-vm; 2 vCPUs);
// fuzz/corpus/incoming_loader holds streams written for it.
// Input: the stream, then a 2-byte trailer (largest piece); see README.md.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "guarded_ram.h"
#include "incoming_loader.h"
#include "loader_machine.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static dpdc::fuzz::GuardedRam ram(dpdc::fuzz::kLoaderRamBytes);
  ram.zero();

  FuzzedDataProvider in(data, size);
  const auto largest = in.ConsumeIntegralInRange<std::size_t>(1, 1024) * 16;
  const std::vector<std::uint8_t> stream = in.ConsumeRemainingBytes<std::uint8_t>();

  dpdc::vm::IncomingLoader loader(ram.bytes(), dpdc::fuzz::loader_machine(), false);
  try {
    for (std::size_t off = 0; off < stream.size(); off += largest)
      loader.feed(std::span(stream).subspan(off, std::min(largest, stream.size() - off)));
    const dpdc::vm::IncomingResult r = loader.finish();
    // A loaded stream described exactly this machine.
    if (r.vcpus.size() != dpdc::fuzz::kLoaderVcpus || r.pages_loaded > ram.bytes().size() / 4096) std::abort();
  } catch (const dpdc::stream::StreamError&) {
  }
  return 0;
}
