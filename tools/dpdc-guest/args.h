/* SPDX-License-Identifier: MIT
 *
 * dpdc-guest's command line: dpdc-vm's --workload NAME[,key=value,...]
 * (workload/workload_spec.cpp), parsed without libc so the same code
 * runs in the freestanding guest and in host tests.
 */
#ifndef DPDC_GUEST_ARGS_H
#define DPDC_GUEST_ARGS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* dpdc-guest's own workload, beside dpdc-vm's enum dpdc_workload_id: QEMU
 * writes the area by fw_cfg DMA (dma_workload.h). */
#define DPDC_GUEST_WL_DMA 0x100u

struct dpdc_guest_args {
    uint32_t workload;      /* enum dpdc_workload_id or DPDC_GUEST_WL_DMA */
    uint32_t hot_percent;   /* hotcold: hot=, 1..100 */
    uint32_t write_percent; /* hotcold: writes=, 0..100 */
    uint32_t delay;         /* delay=, 0..100000000 PAUSEs after every write */
    uint64_t pages;         /* 0 = the whole workload area */
    uint64_t rounds;        /* 0 = forever */
    uint64_t seed;
    uint64_t zipf_s_q32;    /* zipf: s= as a 32.32 fixed-point number */
};

/* Parses `len` bytes of `text`. An empty text is the idle workload, as
 * dpdc-vm's default. Returns DPDC_GUEST_ERR_NONE, or an enum
 * dpdc_guest_error with *error_at = byte offset of the offending part.
 * sync=on is refused: it needs dpdc-vm's harvest on port I/O. */
uint32_t dpdc_guest_parse_args(const char *text, uint32_t len, struct dpdc_guest_args *out, uint32_t *error_at);

#ifdef __cplusplus
}
#endif

#endif
