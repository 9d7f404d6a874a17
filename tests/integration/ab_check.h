#pragma once
// QEMU's migration-test rule for the ab guest (tests/migration/ab in QEMU's
// terms): a round adds one to the first byte of every workload page in page
// order, so reading the pages in order the values step down (by one, mod 256)
// at most once, where the running round had got to. Anything else means a
// write was lost or a stale page was copied.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace dpdc::test {

// Checks pages [first_page, first_page + pages) of `ram` (4 KiB pages).
::testing::AssertionResult ab_consistent(const std::vector<std::uint8_t>& ram, std::uint64_t first_page,
                                         std::uint64_t pages);

inline void expect_ab_consistent(const std::vector<std::uint8_t>& ram, std::uint64_t first_page,
                                 std::uint64_t pages) {
  EXPECT_TRUE(ab_consistent(ram, first_page, pages));
}

}  // namespace dpdc::test
