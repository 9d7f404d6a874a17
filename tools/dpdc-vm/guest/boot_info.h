/* SPDX-License-Identifier: MIT
 *
 * Boot information shared by dpdc-vm (the VMM, C++) and its guest (freestanding C).
 * Plain C, fixed-width types only, no padding surprises: every field is naturally
 * aligned and the struct size is a multiple of 8.
 */
#ifndef DPDC_VM_GUEST_BOOT_INFO_H
#define DPDC_VM_GUEST_BOOT_INFO_H

#include <stdint.h>

#define DPDC_BOOT_MAGIC 0x31544f4f42435044ull /* "DPCBOOT1" */

/* Guest -> VMM port I/O (32-bit OUT; the value is the vCPU index). */
#define DPDC_PORT_ROUND_DONE 0x5d0u /* a round ended; with sync=on the VMM harvests first */
#define DPDC_PORT_FINISHED 0x5d1u   /* the vCPU finished all rounds and now idles */
#define DPDC_PORT_PANIC 0x5d2u      /* fatal guest error; value = DPDC_PANIC_* */

#define DPDC_PANIC_BAD_MAGIC 1u
#define DPDC_PANIC_BAD_WORKLOAD 2u

enum dpdc_workload_id {
    DPDC_WL_IDLE = 0,
    DPDC_WL_AB = 1,
    DPDC_WL_HOTCOLD = 2,
    DPDC_WL_ZIPF = 3,
    DPDC_WL_SEQ = 4,
};

#define DPDC_MAX_RANGES 4

/* A GPA range of workload pages; ranges are in page-index order. */
struct dpdc_range {
    uint64_t gpa;
    uint64_t pages;
};

struct dpdc_boot_info {
    uint64_t magic;
    uint32_t workload;   /* enum dpdc_workload_id */
    uint32_t nr_vcpus;
    uint64_t pages;      /* workload pages in use (sum of ranges[].pages) */
    uint64_t seed;       /* PRNG seed */
    uint64_t rounds;     /* stop after this many rounds; 0 = forever */
    uint32_t sync;       /* 1: OUT to DPDC_PORT_ROUND_DONE makes the VMM harvest + reset */
    uint32_t nr_ranges;
    struct dpdc_range ranges[DPDC_MAX_RANGES];
    /* hotcold */
    uint32_t hot_percent;   /* hot set = first hot_percent % of a vCPU's pages */
    uint32_t write_percent; /* probability (%) that a write goes to the hot set */
    /* zipf */
    uint64_t zipf_table_gpa; /* uint32_t cdf[zipf_ranks], scaled to 2^32-1 */
    uint32_t zipf_ranks;
    uint32_t zipf_multiplier; /* rank -> group = rank * mult % ranks (a permutation) */
    /* pacing */
    uint32_t delay;  /* spin this many PAUSE iterations after every write (0: none) */
    uint32_t reserved;
};

#endif
