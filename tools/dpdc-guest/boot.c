/* SPDX-License-Identifier: MIT
 *
 * dpdc-guest's 64-bit start: the multiboot command line becomes a struct
 * dpdc_boot_info, and dpdc-vm's guest_main() (tools/dpdc-vm/guest/guest.c,
 * compiled into this image unchanged) runs the workload on the boot CPU.
 * Progress is published in the status block (guest_status.h) because QEMU
 * has no handler for the ports that dpdc-vm's guest reports to.
 */
#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "boot_info.h"
#include "dma_workload.h"
#include "guest_status.h"
#include "zipf_fixed.h"

#define PAGE_SIZE 4096u
#define MULTIBOOT_LOADER_MAGIC 0x2badb002u
#define MULTIBOOT_INFO_MEMORY (1u << 0)
#define MULTIBOOT_INFO_CMDLINE (1u << 2)

_Static_assert(sizeof(struct dpdc_guest_status) == 224, "status layout is shared with the tests");
_Static_assert(offsetof(struct dpdc_guest_status, rounds) == 48, "status layout is shared with the tests");
_Static_assert(DPDC_GUEST_STATUS_GPA + sizeof(struct dpdc_guest_status) <= 0x9000,
               "QEMU's multiboot loader writes from 0x9000");

/* The multiboot v1 information structure, as far as it is used here. */
struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower; /* KiB */
    uint32_t mem_upper; /* KiB from 1 MiB up to the first hole */
    uint32_t boot_device;
    uint32_t cmdline;   /* GPA of a NUL-terminated string */
};

void guest_main(uint64_t vcpu, const struct dpdc_boot_info *bi);
void dpdc_guest_start(uint32_t loader_magic, uint32_t mbi_gpa);
void dpdc_guest_round_done(uint32_t vcpu, uint64_t done);

static struct dpdc_boot_info boot_info;
static uint32_t zipf_cdf[DPDC_ZIPF_MAX_RANKS];

static volatile struct dpdc_guest_status *status(void)
{
    return (volatile struct dpdc_guest_status *)(uintptr_t)DPDC_GUEST_STATUS_GPA;
}

static void __attribute__((noreturn)) halt(void)
{
    for (;;)
        __asm__ volatile("cli; hlt" : : : "memory");
}

static void __attribute__((noreturn)) bad_args(uint32_t error, uint32_t at)
{
    status()->error = error;
    status()->error_at = at;
    status()->state = DPDC_GUEST_BAD_ARGS;
    halt();
}

/* QEMU passes "<kernel path> <-append text>": the arguments follow the
 * first space. */
static const char *workload_args(const struct multiboot_info *mbi, uint32_t *len)
{
    *len = 0;
    if (!(mbi->flags & MULTIBOOT_INFO_CMDLINE) || mbi->cmdline == 0)
        return "";
    const char *s = (const char *)(uintptr_t)mbi->cmdline;
    while (*s != '\0' && *s != ' ')
        s++;
    while (*s == ' ')
        s++;
    uint32_t n = 0;
    while (s[n] != '\0')
        n++;
    while (n > 0 && s[n - 1] == ' ')
        n--;
    *len = n;
    return s;
}

/* SeaBIOS hands over RAM it used as scratch (its temporary high zone, below
 * the top of RAM) without clearing it, while dpdc-vm's workloads start from
 * zeroed pages: ab's one-step-down rule and the per-page counters depend on
 * it. Only pages found non-zero are written, so idle still leaves the rest of
 * the area untouched. */
static void scrub(uint64_t gpa, uint64_t pages)
{
    for (uint64_t p = 0; p < pages; p++) {
        const uint64_t *words = (const uint64_t *)(uintptr_t)(gpa + p * PAGE_SIZE);
        uint64_t any = 0;
        for (uint32_t i = 0; i < PAGE_SIZE / 8; i++)
            any |= words[i];
        if (any != 0) {
            volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)(gpa + p * PAGE_SIZE);
            for (uint32_t i = 0; i < PAGE_SIZE / 8; i++)
                w[i] = 0;
        }
    }
}

void dpdc_guest_start(uint32_t loader_magic, uint32_t mbi_gpa)
{
    volatile struct dpdc_guest_status *st = status();
    volatile uint8_t *raw = (volatile uint8_t *)st;
    for (size_t i = 0; i < sizeof(*st); i++)
        raw[i] = 0;
    st->state = DPDC_GUEST_BOOTING;
    st->area_gpa = DPDC_GUEST_AREA_GPA;
    st->magic = DPDC_GUEST_STATUS_MAGIC;
    if (loader_magic != MULTIBOOT_LOADER_MAGIC)
        bad_args(DPDC_GUEST_ERR_NOT_MULTIBOOT, 0);

    const struct multiboot_info *mbi = (const struct multiboot_info *)(uintptr_t)mbi_gpa;
    uint32_t len;
    const char *text = workload_args(mbi, &len);
    for (uint32_t i = 0; i < len && i < DPDC_GUEST_ARGS_MAX; i++)
        st->args[i] = text[i];

    uint64_t ram_end = 0;
    if (mbi->flags & MULTIBOOT_INFO_MEMORY)
        ram_end = 0x100000ull + (uint64_t)mbi->mem_upper * 1024;
    st->ram_end = ram_end;

    struct dpdc_guest_args args;
    uint32_t at;
    uint32_t error = dpdc_guest_parse_args(text, len, &args, &at);
    if (error != DPDC_GUEST_ERR_NONE)
        bad_args(error, at);
    st->workload = args.workload;
    st->seed = args.seed;
    st->rounds_limit = args.rounds;

    uint64_t available = ram_end > DPDC_GUEST_AREA_GPA ? (ram_end - DPDC_GUEST_AREA_GPA) / PAGE_SIZE : 0;
    if (available == 0)
        bad_args(DPDC_GUEST_ERR_NO_MEMORY, 0);
    if (args.pages > available)
        bad_args(DPDC_GUEST_ERR_TOO_MANY_PAGES, 0);
    uint64_t pages = args.pages != 0 ? args.pages : available;
    st->area_pages = pages;
    scrub(DPDC_GUEST_AREA_GPA, pages);

    if (args.workload == DPDC_GUEST_WL_DMA) {
        st->state = DPDC_GUEST_RUNNING;
        uint32_t dma_error = dpdc_guest_run_dma(&args, st, pages);
        if (dma_error == DPDC_GUEST_ERR_DMA_FAILED) {
            st->error = dma_error;
            st->state = DPDC_GUEST_FAILED;
        } else if (dma_error != DPDC_GUEST_ERR_NONE) {
            bad_args(dma_error, 0);
        }
        halt();
    }

    struct dpdc_boot_info *bi = &boot_info;
    bi->magic = DPDC_BOOT_MAGIC;
    bi->workload = args.workload;
    bi->nr_vcpus = 1;
    bi->pages = pages;
    bi->seed = args.seed;
    bi->rounds = args.rounds;
    bi->sync = 0;
    bi->nr_ranges = 1;
    bi->ranges[0].gpa = DPDC_GUEST_AREA_GPA;
    bi->ranges[0].pages = pages;
    bi->hot_percent = args.hot_percent;
    bi->write_percent = args.write_percent;
    bi->delay = args.delay;
    if (args.workload == DPDC_WL_ZIPF) {
        uint32_t ranks = dpdc_zipf_ranks(pages);
        dpdc_zipf_cdf(zipf_cdf, ranks, args.zipf_s_q32);
        bi->zipf_table_gpa = (uint64_t)(uintptr_t)zipf_cdf;
        bi->zipf_ranks = ranks;
        bi->zipf_multiplier = dpdc_zipf_multiplier(ranks);
    }

    st->state = DPDC_GUEST_RUNNING;
    guest_main(0, bi);
    halt();
}

void dpdc_guest_round_done(uint32_t vcpu, uint64_t done)
{
    (void)vcpu;
    volatile struct dpdc_guest_status *st = status();
    st->rounds = done;
    if (boot_info.rounds != 0 && done >= boot_info.rounds)
        st->state = DPDC_GUEST_FINISHED;
}
