// Zipf CDF table and rank scrambling (no KVM needed).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "workload/zipf_table.h"

using namespace dpdc::vm;

TEST(VmZipf, Ranks)
{
    EXPECT_EQ(zipf_ranks(10), 10u);
    EXPECT_EQ(zipf_ranks(65536), 65536u);
    EXPECT_EQ(zipf_ranks(2'000'000), 65536u);
}

TEST(VmZipf, CdfIsMonotoneAndEndsAtMax)
{
    for (double s : {0.5, 1.0, 1.1, 2.0}) {
        for (std::uint32_t ranks : {1u, 2u, 7u, 1000u, 65536u}) {
            auto cdf = build_zipf_cdf(ranks, s);
            ASSERT_EQ(cdf.size(), ranks);
            for (std::size_t i = 1; i < cdf.size(); ++i)
                ASSERT_LE(cdf[i - 1], cdf[i]) << "s=" << s << " ranks=" << ranks << " i=" << i;
            EXPECT_EQ(cdf.back(), 0xffffffffu);
        }
    }
}

TEST(VmZipf, RankZeroShareMatchesTheory)
{
    for (double s : {0.8, 1.1, 1.5}) {
        const std::uint32_t ranks = 65536;
        auto cdf = build_zipf_cdf(ranks, s);
        double h = 0;
        for (std::uint32_t r = 1; r <= ranks; ++r)
            h += std::pow(r, -s);
        const double want = 1.0 / h;
        const double got = (static_cast<double>(cdf[0]) + 1.0) / 4294967296.0;
        EXPECT_NEAR(got, want, want * 1e-6) << "s=" << s;
        // rank 1's share is 2^-s times rank 0's.
        const double got1 = static_cast<double>(cdf[1] - cdf[0]) / 4294967296.0;
        EXPECT_NEAR(got1, want * std::pow(2.0, -s), want * 1e-5);
    }
}

TEST(VmZipf, MultiplierIsAPermutation)
{
    for (std::uint32_t ranks : {1u, 2u, 3u, 10u, 97u, 1000u, 4096u, 65536u}) {
        const std::uint32_t m = zipf_multiplier(ranks);
        std::set<std::uint64_t> groups;
        for (std::uint64_t r = 0; r < ranks; ++r)
            groups.insert(r * m % ranks);
        EXPECT_EQ(groups.size(), ranks) << "ranks=" << ranks << " m=" << m;
    }
    // Hot ranks are spread: ranks 0 and 1 are not adjacent groups for a large table.
    const std::uint32_t m = zipf_multiplier(65536);
    EXPECT_GT(m, 1000u);
}

TEST(VmZipf, GroupsCoverAllPagesExactlyOnce)
{
    const std::uint64_t pages = 100'000;
    const std::uint32_t ranks = zipf_ranks(pages);
    const std::uint32_t m = zipf_multiplier(ranks);
    std::vector<int> hit(pages, 0);
    for (std::uint64_t r = 0; r < ranks; ++r) {
        PageGroup g = zipf_group(r, ranks, m, pages);
        ASSERT_LT(g.first, g.end);
        for (std::uint64_t p = g.first; p < g.end; ++p)
            ++hit[p];
    }
    for (std::uint64_t p = 0; p < pages; ++p)
        ASSERT_EQ(hit[p], 1) << p;
}
