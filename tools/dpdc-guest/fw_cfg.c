/* SPDX-License-Identifier: MIT */
#include "fw_cfg.h"

#include <stddef.h>

#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_PORT_DMA_HIGH 0x514
#define FW_CFG_PORT_DMA_LOW 0x518

#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_ID 0x0001
#define FW_CFG_FILE_DIR 0x0019
#define FW_CFG_VERSION_DMA 0x2u

#define FW_CFG_DMA_ERROR 0x01u
#define FW_CFG_DMA_READ 0x02u
#define FW_CFG_DMA_SELECT 0x08u

#define FW_CFG_FILE_NAME_MAX 56

/* The DMA descriptor lives in guest memory; QEMU reads it at the address the
 * guest writes to the DMA register and clears `control` when done. */
struct fw_cfg_dma_access {
    uint32_t control; /* big-endian */
    uint32_t length;  /* big-endian */
    uint64_t address; /* big-endian */
};

static volatile struct fw_cfg_dma_access dma_access __attribute__((aligned(16)));

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static uint32_t read_be32(void)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | inb(FW_CFG_PORT_DATA);
    return v;
}

static uint16_t read_be16(void)
{
    uint16_t hi = inb(FW_CFG_PORT_DATA);
    return (uint16_t)((hi << 8) | inb(FW_CFG_PORT_DATA));
}

int fw_cfg_has_dma(void)
{
    outw(FW_CFG_PORT_SEL, FW_CFG_SIGNATURE);
    static const char sig[4] = {'Q', 'E', 'M', 'U'};
    for (int i = 0; i < 4; i++) {
        if (inb(FW_CFG_PORT_DATA) != (uint8_t)sig[i])
            return 0;
    }
    /* FW_CFG_ID is the one little-endian item. */
    outw(FW_CFG_PORT_SEL, FW_CFG_ID);
    uint32_t id = 0;
    for (int i = 0; i < 4; i++)
        id |= (uint32_t)inb(FW_CFG_PORT_DATA) << (8 * i);
    return (id & FW_CFG_VERSION_DMA) != 0;
}

int fw_cfg_find_file(const char *name, uint16_t *select, uint32_t *size)
{
    outw(FW_CFG_PORT_SEL, FW_CFG_FILE_DIR);
    uint32_t count = read_be32();
    for (uint32_t e = 0; e < count; e++) {
        uint32_t file_size = read_be32();
        uint16_t file_select = read_be16();
        (void)read_be16(); /* reserved */
        int same = 1;
        int ended = 0;
        for (int i = 0; i < FW_CFG_FILE_NAME_MAX; i++) {
            char c = (char)inb(FW_CFG_PORT_DATA);
            if (ended)
                continue;
            if (c != name[i])
                same = 0;
            if (c == '\0' || name[i] == '\0')
                ended = 1;
        }
        if (same && ended) {
            *select = file_select;
            *size = file_size;
            return 1;
        }
    }
    return 0;
}

int fw_cfg_dma_read(uint16_t select, uint64_t gpa, uint32_t len)
{
    dma_access.control = __builtin_bswap32(((uint32_t)select << 16) | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ);
    dma_access.length = __builtin_bswap32(len);
    dma_access.address = __builtin_bswap64(gpa);
    __asm__ volatile("" : : : "memory");
    uint64_t desc = (uint64_t)(uintptr_t)&dma_access;
    /* The register is big-endian: writing the low half starts the transfer. */
    outl(FW_CFG_PORT_DMA_HIGH, __builtin_bswap32((uint32_t)(desc >> 32)));
    outl(FW_CFG_PORT_DMA_LOW, __builtin_bswap32((uint32_t)desc));
    __asm__ volatile("" : : : "memory");
    return (__builtin_bswap32(dma_access.control) & FW_CFG_DMA_ERROR) == 0;
}
