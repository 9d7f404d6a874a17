#include "workload/zipf_table.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dpdc::vm {

std::uint32_t zipf_ranks(std::uint64_t pages)
{
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(pages, 65536));
}

std::vector<std::uint32_t> build_zipf_cdf(std::uint32_t ranks, double s)
{
    std::vector<std::uint32_t> cdf(ranks);
    if (ranks == 0)
        return cdf;
    double total = 0;
    for (std::uint32_t r = 0; r < ranks; ++r)
        total += std::pow(static_cast<double>(r) + 1.0, -s);
    constexpr double kScale = 4294967296.0;  // 2^32
    double cum = 0;
    std::uint32_t prev = 0;
    for (std::uint32_t r = 0; r < ranks; ++r) {
        cum += std::pow(static_cast<double>(r) + 1.0, -s);
        const double scaled = std::floor(cum / total * kScale) - 1.0;  // u <= cdf[r] has (cdf[r]+1) values
        std::uint32_t v = scaled <= 0 ? 0 : scaled >= kScale - 1 ? 0xffffffffu : static_cast<std::uint32_t>(scaled);
        v = std::max(v, prev);
        cdf[r] = v;
        prev = v;
    }
    cdf.back() = 0xffffffffu;
    return cdf;
}

std::uint32_t zipf_multiplier(std::uint32_t ranks)
{
    if (ranks <= 2)
        return 1;
    std::uint32_t m = static_cast<std::uint32_t>(static_cast<double>(ranks) * 0.6180339887498949);
    m = std::max<std::uint32_t>(m, 1);
    while (std::gcd(m, ranks) != 1)
        ++m;
    return m;
}

PageGroup zipf_group(std::uint64_t rank, std::uint32_t ranks, std::uint32_t multiplier, std::uint64_t pages)
{
    const std::uint64_t group = rank * multiplier % ranks;
    return {group * pages / ranks, (group + 1) * pages / ranks};
}

}  // namespace dpdc::vm
