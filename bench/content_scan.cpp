// What the page-content dirty source costs: one Complete scan (XXH3-64 of
// every page) of a 256 MiB guest, against a plain read of the same memory
// (memcpy into a page buffer) in the same run. The ratio, not the absolute
// figure, is what carries over between machines.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "dpdc/clock.h"
#include "track/content_dirty_source.h"

namespace {

constexpr std::size_t kBytes = 256u << 20;

std::vector<std::uint8_t>& guest_ram() {
  static std::vector<std::uint8_t> ram = [] {
    std::vector<std::uint8_t> r(kBytes);
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<std::uint8_t>(i * 31 + 7);
    return r;
  }();
  return ram;
}

void PlainRead(benchmark::State& state) {
  auto& ram = guest_ram();
  alignas(64) std::uint8_t page[4096];
  for (auto _ : state) {
    for (std::size_t off = 0; off < ram.size(); off += sizeof page) {
      std::memcpy(page, ram.data() + off, sizeof page);
      benchmark::DoNotOptimize(page);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBytes));
}

void ContentScan(benchmark::State& state) {
  auto& ram = guest_ram();
  dpdc::ContentDirtySource source(ram, dpdc::monotonic_ns);
  dpdc::Bitmap out(kBytes / 4096);
  source.collect(out, dpdc::Scan::Complete);  // baseline
  for (auto _ : state) {
    ram[(state.iterations() * 4096) % kBytes]++;  // one page changes per scan
    source.collect(out, dpdc::Scan::Complete);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBytes));
}

}  // namespace

BENCHMARK(PlainRead)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(ContentScan)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

BENCHMARK_MAIN();
