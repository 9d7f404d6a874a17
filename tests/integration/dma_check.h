#pragma once
// dpdc-guest's dma workload (tools/dpdc-guest/dma_workload.h): QEMU, not the
// vCPU, writes the workload area by fw_cfg DMA, alternating between two files.
// This makes the two files and checks a snapshot of the area against the
// transfer counters in the status block.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dma_workload.h"
#include "guest_status.h"
#include "temp_dir.h"

namespace dpdc::test {

struct DmaFiles {
  std::vector<std::uint8_t> a, b;  // contents of DPDC_GUEST_DMA_FILE_A and _B
  std::vector<std::string> qemu_args;  // -fw_cfg options that give QEMU both files
};

// Two files of `pages` pages each, every 8-byte word distinct between them
// and within each, written into `dir`.
DmaFiles make_dma_files(const TempDir& dir, std::uint64_t pages);

// The area after transfers 1..n onto a zeroed area, `bytes` long: transfer t
// writes file a (t odd) or b (t even) at page (t - 1) % DPDC_GUEST_DMA_SHIFTS.
std::vector<std::uint8_t> dma_area_after(std::uint64_t n, const DmaFiles& files, std::size_t bytes);

// With the vCPU stopped: `area` (from the area's start, at least the file
// size plus the shifts) equals the replay of the transfers completed (or, with
// one begun and not completed, of those begun).
::testing::AssertionResult dma_consistent(const std::vector<std::uint8_t>& area, const dpdc_guest_status& status,
                                          const DmaFiles& files);

}  // namespace dpdc::test
