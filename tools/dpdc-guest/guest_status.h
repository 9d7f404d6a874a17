/* SPDX-License-Identifier: MIT
 *
 * Status block of dpdc-guest (the multiboot image that runs dpdc-vm's guest
 * workloads under QEMU). The guest keeps it at a fixed guest physical
 * address so that a test can read it with QMP `pmemsave` without any device:
 *
 *   pmemsave val=DPDC_GUEST_STATUS_GPA size=sizeof(struct dpdc_guest_status)
 *
 * Plain C, fixed-width types, every field naturally aligned, no padding: the
 * same layout in the freestanding guest and in C++ tests.
 */
#ifndef DPDC_GUEST_STATUS_H
#define DPDC_GUEST_STATUS_H

#include <stdint.h>

/* Below 640 KiB, clear of what QEMU's multiboot loader writes: its e820 map
 * at 0x9000 and the multiboot info at 0x9500 (hw/i386/multiboot.c); the
 * command line and module list go above the image. */
#define DPDC_GUEST_STATUS_GPA 0x8000u

/* The workload area: one range of RAM from here to the end of the RAM that
 * starts at 1 MiB (multiboot mem_upper), or `pages=` pages if given. Above
 * the image, its bss (page tables, stack, zipf table) and QEMU's command line. */
#define DPDC_GUEST_AREA_GPA 0x400000u

#define DPDC_GUEST_STATUS_MAGIC 0x3154535447435044ull /* "DPCGTST1" */

/* dpdc_guest_status.state */
enum dpdc_guest_state {
    DPDC_GUEST_BOOTING = 1,  /* entered, parsing the command line */
    DPDC_GUEST_RUNNING = 2,  /* guest_main() runs the workload */
    DPDC_GUEST_FINISHED = 3, /* `rounds=` rounds done; the CPU halts */
    DPDC_GUEST_BAD_ARGS = 4, /* see error/error_at; the CPU halts, the area is untouched */
    DPDC_GUEST_FAILED = 5,   /* the workload hit a device error (see error); the CPU halts */
};

/* dpdc_guest_status.error (state DPDC_GUEST_BAD_ARGS) */
enum dpdc_guest_error {
    DPDC_GUEST_ERR_NONE = 0,
    DPDC_GUEST_ERR_NOT_MULTIBOOT = 1,     /* EAX did not hold the multiboot magic */
    DPDC_GUEST_ERR_UNKNOWN_WORKLOAD = 2,  /* not idle, ab, hotcold, zipf, seq or dma */
    DPDC_GUEST_ERR_UNKNOWN_KEY = 3,       /* no such key for this workload */
    DPDC_GUEST_ERR_NOT_KEY_VALUE = 4,     /* an option without '=' */
    DPDC_GUEST_ERR_BAD_VALUE = 5,         /* a value out of range or not a number */
    DPDC_GUEST_ERR_DUPLICATE_KEY = 6,     /* a key given twice */
    DPDC_GUEST_ERR_SYNC_UNSUPPORTED = 7,  /* sync=on needs dpdc-vm's harvest port */
    DPDC_GUEST_ERR_TOO_MANY_PAGES = 8,    /* pages= larger than the area */
    DPDC_GUEST_ERR_NO_MEMORY = 9,         /* no RAM above DPDC_GUEST_AREA_GPA */
    DPDC_GUEST_ERR_NO_FW_CFG_DMA = 10,    /* dma: no fw_cfg device, or one without DMA */
    DPDC_GUEST_ERR_DMA_FILES = 11,        /* dma: a file missing, empty, sizes differ, or too large for the area */
    DPDC_GUEST_ERR_DMA_FAILED = 12,       /* dma: the device reported an error (state FAILED) */
};

/* The dma workload's fw_cfg files (QEMU: -fw_cfg name=...,file=PATH). */
#define DPDC_GUEST_DMA_FILE_A "opt/dpdc/dma-a"
#define DPDC_GUEST_DMA_FILE_B "opt/dpdc/dma-b"


#define DPDC_GUEST_ARGS_MAX 120 /* bytes of the command line kept in `args` */

struct dpdc_guest_status {
    uint64_t magic;      /* DPDC_GUEST_STATUS_MAGIC once the guest has started */
    uint32_t state;      /* enum dpdc_guest_state */
    uint32_t error;      /* enum dpdc_guest_error */
    uint32_t error_at;   /* byte offset into `args` of the offending part */
    uint32_t workload;   /* enum dpdc_workload_id (tools/dpdc-vm/guest/boot_info.h) */
    uint64_t area_gpa;   /* DPDC_GUEST_AREA_GPA */
    uint64_t area_pages; /* workload pages in use, from DPDC_GUEST_AREA_GPA on */
    uint64_t ram_end;    /* end of the RAM at 1 MiB, from multiboot mem_upper */
    uint64_t rounds;     /* rounds done; rises at each end of round */
    uint64_t seed;
    uint64_t rounds_limit; /* rounds=; 0 = forever */
    char args[DPDC_GUEST_ARGS_MAX + 8]; /* the workload arguments, NUL-terminated */
    /* dma workload (dma_workload.h); zero for the others */
    uint64_t dma_started; /* transfers begun */
    uint64_t dma_done;    /* transfers completed */
    uint64_t dma_bytes;   /* bytes per transfer: the size of each file */
};

#endif
