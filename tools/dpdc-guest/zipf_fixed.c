/* SPDX-License-Identifier: MIT */
#include "zipf_fixed.h"

typedef unsigned __int128 u128;

#define Q62_ONE (1ull << 62)
#define LN2_Q62 0x2c5c85fdf473de6aull           /* ln 2 * 2^62 */
#define GOLDEN_Q64 0x9e3779b97f4a7c15ull        /* (sqrt(5) - 1) / 2 * 2^64 */
#define WEIGHT_SHIFT 40 /* weights in 24.40: 65536 ranks of weight <= 1 sum below 2^57 */

uint32_t dpdc_zipf_ranks(uint64_t pages)
{
    return pages < DPDC_ZIPF_MAX_RANKS ? (uint32_t)pages : DPDC_ZIPF_MAX_RANKS;
}

static uint32_t gcd32(uint32_t a, uint32_t b)
{
    while (b != 0) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

uint32_t dpdc_zipf_multiplier(uint32_t ranks)
{
    if (ranks <= 2)
        return 1;
    uint32_t m = (uint32_t)(((u128)ranks * GOLDEN_Q64) >> 64);
    if (m == 0)
        m = 1;
    while (gcd32(m, ranks) != 1)
        m++;
    return m;
}

/* log2(x) in 32.32 for x >= 1: the integer part from the top bit, the
 * fraction one bit per squaring of the mantissa. */
static uint64_t log2_q32(uint32_t x)
{
    uint32_t k = 31 - (uint32_t)__builtin_clz(x);
    uint64_t m = (uint64_t)x << (31 - k); /* mantissa in [1, 2) as 1.31 */
    uint64_t frac = 0;
    for (int bit = 31; bit >= 0; bit--) {
        m = (m * m) >> 31;
        if (m >= (2ull << 31)) {
            m >>= 1;
            frac |= 1ull << bit;
        }
    }
    return ((uint64_t)k << 32) | frac;
}

/* 2^-y for y in 32.32, as 24.40: 2^-frac(y) = e^(-t), t = frac(y) ln 2 < 0.7,
 * by its alternating series, then shifted by the integer part. */
static uint64_t exp2_neg_q40(uint64_t y)
{
    uint64_t shift = 62 - WEIGHT_SHIFT + (y >> 32);
    if (shift >= 64)
        return 0;
    uint64_t t = (uint64_t)(((u128)(y & 0xffffffffu) * LN2_Q62) >> 32);
    uint64_t sum = Q62_ONE, term = Q62_ONE;
    for (uint64_t k = 1; term != 0; k++) {
        term = (uint64_t)(((u128)term * t) >> 62) / k;
        if (k & 1)
            sum -= term;
        else
            sum += term;
    }
    return sum >> shift;
}

static uint64_t weight(uint32_t rank, uint64_t s_q32)
{
    uint64_t y = (uint64_t)(((u128)s_q32 * log2_q32(rank + 1)) >> 32);
    return exp2_neg_q40(y);
}

/* floor(num * 2^32 / den) for num <= den, one DIV: the quotient fits 33 bits. */
static uint64_t scale32(uint64_t num, uint64_t den)
{
    uint64_t hi = num >> 32, lo = num << 32, q, r;
    __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(den));
    (void)r;
    return q;
}

void dpdc_zipf_cdf(uint32_t *cdf, uint32_t ranks, uint64_t s_q32)
{
    if (ranks == 0)
        return;
    uint64_t total = 0;
    for (uint32_t r = 0; r < ranks; r++)
        total += weight(r, s_q32);
    uint64_t cum = 0;
    uint32_t prev = 0;
    for (uint32_t r = 0; r < ranks; r++) {
        cum += weight(r, s_q32);
        /* u <= cdf[r] holds for cdf[r] + 1 values of u, hence the - 1 */
        uint64_t q = scale32(cum, total);
        uint32_t v = q <= 1 ? 0 : q - 1 >= 0xffffffffull ? 0xffffffffu : (uint32_t)(q - 1);
        if (v < prev)
            v = prev;
        cdf[r] = v;
        prev = v;
    }
    cdf[ranks - 1] = 0xffffffffu;
}
