/* SPDX-License-Identifier: MIT
 *
 * The dma workload (dpdc-guest only): the vCPU never writes the workload
 * area; QEMU does, by fw_cfg DMA. Transfer t (t = 1, 2, ...) copies fw_cfg
 * file DPDC_GUEST_DMA_FILE_A (t odd) or DPDC_GUEST_DMA_FILE_B (t even), both
 * of the same size, to the area at page (t - 1) % DPDC_GUEST_DMA_SHIFTS.
 * The shifting start makes the area's content after n transfers a function
 * of n with a long period, so a page left stale by a migration shows up
 * instead of matching by chance. The status block counts the transfers
 * begun and completed: any snapshot taken while the vCPU is stopped equals
 * the replay of transfers 1..dma_done onto a zeroed area (or, when
 * dma_started is dma_done + 1, possibly 1..dma_started).
 */
#ifndef DPDC_GUEST_DMA_WORKLOAD_H
#define DPDC_GUEST_DMA_WORKLOAD_H

#include <stdint.h>

#include "args.h"
#include "guest_status.h"

#define DPDC_GUEST_DMA_SHIFTS 7u

/* Checks the device and the files, then transfers until `rounds` transfers
 * are done (forever when 0). Returns an enum dpdc_guest_error when the setup
 * is wrong (the area is untouched then) or a transfer fails. */
uint32_t dpdc_guest_run_dma(const struct dpdc_guest_args *args, volatile struct dpdc_guest_status *st,
                            uint64_t area_pages);

#endif
