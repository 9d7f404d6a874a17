/* SPDX-License-Identifier: MIT
 *
 * QEMU's fw_cfg device as the guest sees it on a PC (docs/specs/fw_cfg.rst in
 * QEMU): a selector at I/O port 0x510, a byte-wide data port at 0x511 and the
 * DMA address register at 0x514. Everything fw_cfg puts on the wire is
 * big-endian; these functions return host (little-endian) values.
 *
 * The point of it here: a DMA read makes QEMU itself write guest RAM, from
 * its device emulation, not from a vCPU. A dirty tracker that only sees vCPU
 * writes (KVM's dirty ring) misses such writes, and the dma workload exists
 * so that a migration test can catch that.
 */
#ifndef DPDC_GUEST_FW_CFG_H
#define DPDC_GUEST_FW_CFG_H

#include <stdint.h>

/* 1 when the device answers with its "QEMU" signature and offers DMA. */
int fw_cfg_has_dma(void);

/* Looks `name` up in the file directory. Returns 1 and fills *select and
 * *size when found, 0 when not. */
int fw_cfg_find_file(const char *name, uint16_t *select, uint32_t *size);

/* One DMA transfer: QEMU writes `len` bytes of item `select` from its start
 * into guest physical memory at `gpa`. Returns 1 on success, 0 when the
 * device reports an error. Synchronous: QEMU performs the whole transfer
 * while it handles the guest's write to the DMA address register. */
int fw_cfg_dma_read(uint16_t select, uint64_t gpa, uint32_t len);

#endif
