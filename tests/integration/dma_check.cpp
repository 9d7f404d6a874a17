#include "dma_check.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "qemu_process.h"

namespace dpdc::test {

DmaFiles make_dma_files(const TempDir& dir, std::uint64_t pages) {
  DmaFiles f;
  const std::size_t bytes = pages * 4096;
  f.a.resize(bytes);
  f.b.resize(bytes);
  for (std::size_t i = 0; i < bytes / 8; ++i) {
    const std::uint64_t wa = 0xa000000000000000ull | i, wb = 0xb000000000000000ull | i;
    std::memcpy(&f.a[i * 8], &wa, 8);
    std::memcpy(&f.b[i * 8], &wb, 8);
  }
  const std::string pa = dir / "dma-a.bin", pb = dir / "dma-b.bin";
  write_file(pa, f.a);
  write_file(pb, f.b);
  f.qemu_args = {"-fw_cfg", std::string("name=") + DPDC_GUEST_DMA_FILE_A + ",file=" + pa,
                 "-fw_cfg", std::string("name=") + DPDC_GUEST_DMA_FILE_B + ",file=" + pb};
  return f;
}

std::vector<std::uint8_t> dma_area_after(std::uint64_t n, const DmaFiles& files, std::size_t bytes) {
  std::vector<std::uint8_t> area(bytes, 0);
  // The last DPDC_GUEST_DMA_SHIFTS transfers cover every page any transfer
  // can reach, so older ones need no replay.
  const std::uint64_t first = n > 2 * DPDC_GUEST_DMA_SHIFTS ? n - 2 * DPDC_GUEST_DMA_SHIFTS : 1;
  for (std::uint64_t t = first; t <= n; ++t) {
    const auto& file = t % 2 == 1 ? files.a : files.b;
    const std::size_t at = ((t - 1) % DPDC_GUEST_DMA_SHIFTS) * 4096;
    if (at >= bytes) continue;
    std::copy_n(file.begin(), std::min(file.size(), bytes - at), area.begin() + static_cast<std::ptrdiff_t>(at));
  }
  return area;
}

::testing::AssertionResult dma_consistent(const std::vector<std::uint8_t>& area, const dpdc_guest_status& status,
                                          const DmaFiles& files) {
  if (status.dma_bytes != files.a.size())
    return ::testing::AssertionFailure() << "the guest reports " << status.dma_bytes
                                         << " bytes per transfer, the files hold " << files.a.size();
  const std::size_t reach = files.a.size() + (DPDC_GUEST_DMA_SHIFTS - 1) * 4096;
  if (area.size() < reach)
    return ::testing::AssertionFailure() << "snapshot of " << area.size() << " bytes, transfers reach " << reach;
  if (status.dma_done == 0) return ::testing::AssertionFailure() << "no transfer completed yet";
  if (status.dma_started != status.dma_done && status.dma_started != status.dma_done + 1)
    return ::testing::AssertionFailure() << "transfers begun " << status.dma_started << ", completed "
                                         << status.dma_done;
  const std::vector<std::uint8_t> snapshot(area.begin(), area.begin() + static_cast<std::ptrdiff_t>(reach));
  const auto want = dma_area_after(status.dma_done, files, reach);
  if (snapshot == want) return ::testing::AssertionSuccess();
  if (status.dma_started == status.dma_done + 1 && snapshot == dma_area_after(status.dma_started, files, reach))
    return ::testing::AssertionSuccess();
  std::size_t at = 0;
  while (at < reach && want[at] == snapshot[at]) ++at;
  std::uint64_t got_word = 0, want_word = 0;
  std::memcpy(&got_word, &snapshot[at & ~std::size_t{7}], 8);
  std::memcpy(&want_word, &want[at & ~std::size_t{7}], 8);
  char words[64];
  std::snprintf(words, sizeof words, "word %#018llx, want %#018llx", static_cast<unsigned long long>(got_word),
                static_cast<unsigned long long>(want_word));
  return ::testing::AssertionFailure() << "after " << status.dma_done << " transfers the area differs at byte " << at
                                       << " (page " << at / 4096 << "): " << words;
}

}  // namespace dpdc::test
