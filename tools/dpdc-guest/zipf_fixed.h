/* SPDX-License-Identifier: MIT
 *
 * The zipf workload's popularity table, computed without an FPU: the guest
 * is built with -mgeneral-regs-only, so dpdc-vm's double-precision
 * build_zipf_cdf() (workload/zipf_table.cpp) is redone here in fixed
 * point. Same contract, within rounding: host tests compare the two.
 */
#ifndef DPDC_GUEST_ZIPF_FIXED_H
#define DPDC_GUEST_ZIPF_FIXED_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DPDC_ZIPF_MAX_RANKS 65536u

/* min(pages, 65536), as zipf_ranks() in workload/zipf_table.h. */
uint32_t dpdc_zipf_ranks(uint64_t pages);

/* A multiplier coprime with `ranks`, floor(ranks * 0.618...) or the next one:
 * the same value as zipf_multiplier() in workload/zipf_table.h. */
uint32_t dpdc_zipf_multiplier(uint32_t ranks);

/* cdf[r] = P(rank <= r) of Zipf(s) scaled to 2^32-1, non-decreasing,
 * cdf[ranks-1] = 0xffffffff; `s_q32` is s in 32.32 fixed point (0 < s <= 10). */
void dpdc_zipf_cdf(uint32_t *cdf, uint32_t ranks, uint64_t s_q32);

#ifdef __cplusplus
}
#endif

#endif
