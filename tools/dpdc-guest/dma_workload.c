/* SPDX-License-Identifier: MIT */
#include "dma_workload.h"

#include "fw_cfg.h"

#define PAGE_SIZE 4096u

uint32_t dpdc_guest_run_dma(const struct dpdc_guest_args *args, volatile struct dpdc_guest_status *st,
                            uint64_t area_pages)
{
    if (!fw_cfg_has_dma())
        return DPDC_GUEST_ERR_NO_FW_CFG_DMA;
    uint16_t select[2];
    uint32_t size[2];
    if (!fw_cfg_find_file(DPDC_GUEST_DMA_FILE_A, &select[0], &size[0]) ||
        !fw_cfg_find_file(DPDC_GUEST_DMA_FILE_B, &select[1], &size[1]) || size[0] == 0 || size[0] != size[1] ||
        (uint64_t)size[0] + (DPDC_GUEST_DMA_SHIFTS - 1) * PAGE_SIZE > area_pages * PAGE_SIZE)
        return DPDC_GUEST_ERR_DMA_FILES;
    st->dma_bytes = size[0];
    for (uint64_t i = 0; args->rounds == 0 || i < args->rounds; i++) {
        st->dma_started = i + 1;
        uint64_t gpa = DPDC_GUEST_AREA_GPA + (i % DPDC_GUEST_DMA_SHIFTS) * PAGE_SIZE;
        if (!fw_cfg_dma_read(select[i & 1], gpa, size[0]))
            return DPDC_GUEST_ERR_DMA_FAILED;
        st->dma_done = i + 1;
        st->rounds = i + 1;
        for (uint32_t p = args->delay; p != 0; p--)
            __asm__ volatile("pause" : : : "memory");
    }
    st->state = DPDC_GUEST_FINISHED;
    return DPDC_GUEST_ERR_NONE;
}
