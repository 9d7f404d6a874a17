// Zipf popularity table for the guest's zipf workload (pure).
#pragma once

#include <cstdint>
#include <vector>

namespace dpdc::vm {

// Number of ranks used for `pages` workload pages: min(pages, 65536).
std::uint32_t zipf_ranks(std::uint64_t pages);

// CDF over `ranks` ranks of Zipf(s): cdf[r] = P(rank <= r) scaled to 2^32-1,
// non-decreasing, cdf.back() == 0xffffffff. The guest draws u (32 bits) and
// takes the smallest r with u <= cdf[r].
std::vector<std::uint32_t> build_zipf_cdf(std::uint32_t ranks, double s);

// A multiplier m coprime with `ranks` (about 0.618 * ranks) so that
// rank -> rank * m % ranks is a permutation spreading hot ranks apart.
std::uint32_t zipf_multiplier(std::uint32_t ranks);

// Page group [first, end) of rank `rank` among `pages` pages (what the guest computes).
struct PageGroup {
    std::uint64_t first;
    std::uint64_t end;
};
PageGroup zipf_group(std::uint64_t rank, std::uint32_t ranks, std::uint32_t multiplier, std::uint64_t pages);

}  // namespace dpdc::vm
