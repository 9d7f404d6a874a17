/* SPDX-License-Identifier: MIT */
#include "args.h"

#include "boot_info.h"
#include "guest_status.h"

struct text {
    const char *p;
    uint32_t len;
};

static int text_is(struct text t, const char *word)
{
    uint32_t i = 0;
    for (; i < t.len; i++)
        if (word[i] == '\0' || word[i] != t.p[i])
            return 0;
    return word[i] == '\0';
}

/* Decimal, no sign or suffix, as dpdc-vm's parse_uint; 0 on bad syntax or overflow. */
static int parse_u64(struct text t, uint64_t *out)
{
    if (t.len == 0 || t.len > 20)
        return 0;
    uint64_t v = 0;
    for (uint32_t i = 0; i < t.len; i++) {
        if (t.p[i] < '0' || t.p[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(t.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int parse_range(struct text t, uint64_t lo, uint64_t hi, uint64_t *out)
{
    return parse_u64(t, out) && *out >= lo && *out <= hi;
}

/* "D[.D]" into 32.32 fixed point, 0 < s <= 10 as dpdc-vm's s=. No FPU in
 * the guest, so no exponent syntax; digits past the ninth decimal only
 * need to be digits (they are below 2^-32). */
static int parse_s(struct text t, uint64_t *out)
{
    uint32_t i = 0;
    uint64_t whole = 0, frac = 0, scale = 1;
    int digits = 0;
    for (; i < t.len && t.p[i] >= '0' && t.p[i] <= '9'; i++, digits++) {
        whole = whole * 10 + (uint64_t)(t.p[i] - '0');
        if (whole > 10)
            return 0;
    }
    if (i < t.len && t.p[i] == '.') {
        for (i++; i < t.len && t.p[i] >= '0' && t.p[i] <= '9'; i++, digits++) {
            if (scale < 1000000000ull) {
                frac = frac * 10 + (uint64_t)(t.p[i] - '0');
                scale *= 10;
            }
        }
    }
    if (digits == 0 || i != t.len)
        return 0;
    uint64_t q = (whole << 32) + (frac << 32) / scale;
    if (q == 0 || q > (10ull << 32))
        return 0;
    *out = q;
    return 1;
}

enum key_bit {
    KEY_PAGES = 1u << 0,
    KEY_ROUNDS = 1u << 1,
    KEY_SEED = 1u << 2,
    KEY_SYNC = 1u << 3,
    KEY_HOT = 1u << 4,
    KEY_WRITES = 1u << 5,
    KEY_S = 1u << 6,
    KEY_DELAY = 1u << 7,
};

uint32_t dpdc_guest_parse_args(const char *text, uint32_t len, struct dpdc_guest_args *out, uint32_t *error_at)
{
    out->workload = DPDC_WL_IDLE;
    out->hot_percent = 10;
    out->write_percent = 90;
    out->delay = 0;
    out->pages = 0;
    out->rounds = 0;
    out->seed = 1;
    out->zipf_s_q32 = (11ull << 32) / 10; /* 1.1 */
    *error_at = 0;
    if (len == 0)
        return DPDC_GUEST_ERR_NONE;

    uint32_t seen = 0;
    uint32_t pos = 0;
    for (int first = 1;; first = 0) {
        uint32_t end = pos;
        while (end < len && text[end] != ',')
            end++;
        struct text part = {text + pos, end - pos};
        *error_at = pos;
        if (first) {
            if (text_is(part, "idle"))
                out->workload = DPDC_WL_IDLE;
            else if (text_is(part, "ab"))
                out->workload = DPDC_WL_AB;
            else if (text_is(part, "hotcold"))
                out->workload = DPDC_WL_HOTCOLD;
            else if (text_is(part, "zipf"))
                out->workload = DPDC_WL_ZIPF;
            else if (text_is(part, "seq"))
                out->workload = DPDC_WL_SEQ;
            else if (text_is(part, "dma"))
                out->workload = DPDC_GUEST_WL_DMA;
            else
                return DPDC_GUEST_ERR_UNKNOWN_WORKLOAD;
        } else {
            uint32_t eq = 0;
            while (eq < part.len && part.p[eq] != '=')
                eq++;
            if (eq == part.len || eq == 0)
                return DPDC_GUEST_ERR_NOT_KEY_VALUE;
            struct text key = {part.p, eq};
            struct text value = {part.p + eq + 1, part.len - eq - 1};
            uint32_t bit;
            uint64_t v = 0;
            int ok;
            if (text_is(key, "pages")) {
                bit = KEY_PAGES;
                ok = parse_range(value, 1, 1ull << 40, &out->pages);
            } else if (text_is(key, "rounds")) {
                bit = KEY_ROUNDS;
                ok = parse_range(value, 0, 1ull << 48, &out->rounds);
            } else if (text_is(key, "delay")) {
                bit = KEY_DELAY;
                ok = parse_range(value, 0, 100000000, &v);
                out->delay = (uint32_t)v;
            } else if (text_is(key, "seed")) {
                bit = KEY_SEED;
                ok = parse_u64(value, &out->seed);
            } else if (text_is(key, "sync")) {
                bit = KEY_SYNC;
                if (text_is(value, "on") || text_is(value, "yes") || text_is(value, "true")) {
                    *error_at = pos + eq + 1;
                    return DPDC_GUEST_ERR_SYNC_UNSUPPORTED;
                }
                ok = text_is(value, "off") || text_is(value, "no") || text_is(value, "false");
            } else if (text_is(key, "hot") && out->workload == DPDC_WL_HOTCOLD) {
                bit = KEY_HOT;
                ok = parse_range(value, 1, 100, &v);
                out->hot_percent = (uint32_t)v;
            } else if (text_is(key, "writes") && out->workload == DPDC_WL_HOTCOLD) {
                bit = KEY_WRITES;
                ok = parse_range(value, 0, 100, &v);
                out->write_percent = (uint32_t)v;
            } else if (text_is(key, "s") && out->workload == DPDC_WL_ZIPF) {
                bit = KEY_S;
                ok = parse_s(value, &out->zipf_s_q32);
            } else {
                return DPDC_GUEST_ERR_UNKNOWN_KEY;
            }
            if (seen & bit)
                return DPDC_GUEST_ERR_DUPLICATE_KEY;
            seen |= bit;
            if (!ok) {
                *error_at = pos + eq + 1;
                return DPDC_GUEST_ERR_BAD_VALUE;
            }
        }
        if (end == len)
            break;
        pos = end + 1;
    }
    *error_at = 0;
    return DPDC_GUEST_ERR_NONE;
}
