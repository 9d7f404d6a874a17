/* dpdc-vm guest: all workloads in one freestanding image.
 *
 * Each vCPU owns a contiguous chunk of the workload pages:
 * chunk i = [i * pages / n, (i + 1) * pages / n) in workload page order.
 * Keep VM exits rare: at most one OUT per round. */
#include <stdint.h>

#include "boot_info.h"

#define PAGE_SIZE 4096u

void guest_main(uint64_t vcpu, const struct dpdc_boot_info *bi);

static inline void outl(uint16_t port, uint32_t value)
{
    __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static void __attribute__((noreturn)) idle_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt" : : : "memory");
}

struct rng {
    uint64_t s;
};

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* GPA of workload page `rel` (0-based, in page-index order). */
static uint64_t page_gpa(const struct dpdc_boot_info *bi, uint64_t rel)
{
    for (uint32_t i = 0; i < bi->nr_ranges; i++) {
        if (rel < bi->ranges[i].pages)
            return bi->ranges[i].gpa + rel * PAGE_SIZE;
        rel -= bi->ranges[i].pages;
    }
    return bi->ranges[0].gpa; /* unreachable for valid input */
}

struct ctx {
    const struct dpdc_boot_info *bi;
    uint32_t vcpu;
    uint64_t first; /* first workload page of this vCPU's chunk */
    uint64_t count; /* pages in this vCPU's chunk */
    struct rng rng;
};

/* A build without dpdc-vm's port handlers (dpdc-guest under QEMU, where the
 * OUTs go nowhere) names a function here to see each end of round. */
#ifdef DPDC_GUEST_ROUND_HOOK
void DPDC_GUEST_ROUND_HOOK(uint32_t vcpu, uint64_t done);
#endif

/* Sets the write rate when the guest runs faster than a migration can follow
 * (TCG, a fast host): `delay=` PAUSE iterations after every write. */
static inline void pace(const struct ctx *c)
{
    for (uint32_t i = c->bi->delay; i != 0; i--)
        __asm__ volatile("pause" : : : "memory");
}

/* Ends a round; returns nonzero when the vCPU must stop. */
static int end_round(struct ctx *c, uint64_t *done)
{
    outl(DPDC_PORT_ROUND_DONE, c->vcpu);
    ++*done;
#ifdef DPDC_GUEST_ROUND_HOOK
    DPDC_GUEST_ROUND_HOOK(c->vcpu, *done);
#endif
    return c->bi->rounds != 0 && *done >= c->bi->rounds;
}

static void run_ab(struct ctx *c)
{
    uint64_t done = 0;
    for (;;) {
        for (uint64_t i = 0; i < c->count; i++) {
            volatile uint8_t *p = (volatile uint8_t *)page_gpa(c->bi, c->first + i);
            *p = (uint8_t)(*p + 1);
            pace(c);
        }
        if (end_round(c, &done))
            return;
    }
}

static void run_seq(struct ctx *c)
{
    uint64_t done = 0;
    for (;;) {
        for (uint64_t i = 0; i < c->count; i++) {
            volatile uint64_t *p = (volatile uint64_t *)page_gpa(c->bi, c->first + i);
            *p = done + 1;
            pace(c);
        }
        if (end_round(c, &done))
            return;
    }
}

static void touch(struct ctx *c, uint64_t local)
{
    volatile uint64_t *p = (volatile uint64_t *)page_gpa(c->bi, c->first + local);
    *p = *p + 1;
    pace(c);
}

static void run_hotcold(struct ctx *c)
{
    uint64_t hot = c->count * c->bi->hot_percent / 100;
    if (hot == 0 && c->bi->hot_percent != 0)
        hot = 1;
    uint64_t cold = c->count - hot;
    uint64_t done = 0;
    for (;;) {
        for (uint64_t w = 0; w < c->count; w++) {
            uint64_t r = rng_next(&c->rng);
            int to_hot = (r >> 32) % 100 < c->bi->write_percent;
            if (cold == 0 || (to_hot && hot != 0))
                touch(c, (r & 0xffffffffu) % hot);
            else
                touch(c, hot + (r & 0xffffffffu) % cold);
        }
        if (end_round(c, &done))
            return;
    }
}

static void run_zipf(struct ctx *c)
{
    const struct dpdc_boot_info *bi = c->bi;
    const volatile uint32_t *cdf = (const volatile uint32_t *)bi->zipf_table_gpa;
    uint64_t ranks = bi->zipf_ranks;
    uint64_t total = bi->pages;
    uint64_t done = 0;
    for (;;) {
        for (uint64_t w = 0; w < c->count; w++) {
            uint64_t r = rng_next(&c->rng);
            uint32_t u = (uint32_t)(r >> 32);
            uint64_t lo = 0, hi = ranks - 1; /* smallest rank with u <= cdf[rank] */
            while (lo < hi) {
                uint64_t mid = (lo + hi) / 2;
                if (u <= cdf[mid])
                    hi = mid;
                else
                    lo = mid + 1;
            }
            uint64_t group = lo * bi->zipf_multiplier % ranks;
            uint64_t g0 = group * total / ranks;
            uint64_t g1 = (group + 1) * total / ranks;
            uint64_t global = g0 + (r & 0xffffffffu) % (g1 - g0);
            touch(c, global * c->count / total);
        }
        if (end_round(c, &done))
            return;
    }
}

void guest_main(uint64_t vcpu, const struct dpdc_boot_info *bi)
{
    if (bi->magic != DPDC_BOOT_MAGIC) {
        outl(DPDC_PORT_PANIC, DPDC_PANIC_BAD_MAGIC);
        idle_forever();
    }
    struct ctx c;
    c.bi = bi;
    c.vcpu = (uint32_t)vcpu;
    c.first = vcpu * bi->pages / bi->nr_vcpus;
    c.count = (vcpu + 1) * bi->pages / bi->nr_vcpus - c.first;
    c.rng.s = splitmix64(bi->seed ^ ((vcpu + 1) * 0x9e3779b97f4a7c15ull));
    if (c.rng.s == 0)
        c.rng.s = 1;

    if (c.count != 0) {
        switch (bi->workload) {
        case DPDC_WL_IDLE:
            break;
        case DPDC_WL_AB:
            run_ab(&c);
            break;
        case DPDC_WL_HOTCOLD:
            run_hotcold(&c);
            break;
        case DPDC_WL_ZIPF:
            run_zipf(&c);
            break;
        case DPDC_WL_SEQ:
            run_seq(&c);
            break;
        default:
            outl(DPDC_PORT_PANIC, DPDC_PANIC_BAD_WORKLOAD);
            idle_forever();
        }
    }
    outl(DPDC_PORT_FINISHED, c.vcpu);
    idle_forever();
}
