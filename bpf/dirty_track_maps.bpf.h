/* SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0-only) */
/*
 * The tracker's maps and what every tracking mode does with them: one
 * per-page history (`pages`), one dirty log (`dirty_bits`), one event
 * stream, one set of counters, whichever KVM mechanism reports the writes
 * (dirty_track_ring.bpf.h, dirty_track_mark.bpf.h). Included once, by
 * dirty_track.bpf.c.
 */
#ifndef DPDC_DIRTY_TRACK_MAPS_BPF_H
#define DPDC_DIRTY_TRACK_MAPS_BPF_H

/* Set by the loader between open and load. */
const volatile __u32 target_tgid = 0;
const volatile __u8 record_events = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* resized to the guest's page count */
	__type(key, __u32);
	__type(value, struct dpdc_page);
} pages SEC(".maps");

/*
 * One bit per page, set by every push and taken (read and cleared
 * atomically) by the engine: the dirty log of a pre-copy round, cheap to scan.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* resized to ceil(pages / 64) */
	__type(key, __u32);
	__type(value, __u64);
} dirty_bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPDC_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct dpdc_slot);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DPDC_MAX_REGIONS);
	__type(key, __u32);
	__type(value, struct dpdc_region);
} regions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DPDC_MAX_RINGS);
	__type(key, __u32);
	__type(value, struct dpdc_ring);
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPDC_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct dpdc_unknown_slot);
} unknown_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpdc_counters);
} counters SEC(".maps");

/* Every dirty event, for `attach --record` (sized by the loader). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

/* Written by userspace only; the programs never touch it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpdc_owner);
} owner SEC(".maps");

static __always_inline int traced(void)
{
	return (__u32)(bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline struct dpdc_counters *global(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void note_unknown_slot(__u32 slot, __u64 offset)
{
	struct dpdc_unknown_slot fresh = { .events = 1, .max_offset = offset };
	struct dpdc_unknown_slot *u = bpf_map_lookup_elem(&unknown_slots, &slot);

	if (!u) {
		bpf_map_update_elem(&unknown_slots, &slot, &fresh, BPF_NOEXIST);
		return;
	}
	__sync_fetch_and_add(&u->events, 1);
	if (offset > u->max_offset)
		u->max_offset = offset;
}


static __always_inline int any_region(void)
{
	__u32 zero = 0;
	struct dpdc_region *r = bpf_map_lookup_elem(&regions, &zero);

	return r && r->hva_end;
}

/* Places host address range [hva, hva + pages * 4096) in the page numbering. */
static __always_inline void place(struct dpdc_slot *s, __u64 hva, __u64 pages)
{
	s->first_page = DPDC_NO_PAGE;
	s->pages = 0;
	/* Unrolled: verifiers before 6.13 see a loop whose counter is a map key
	 * (it lives on the stack) as possibly infinite. The same for the loops below. */
#pragma unroll
	for (__u32 i = 0; i < DPDC_MAX_REGIONS; i++) {
		__u32 key = i;
		struct dpdc_region *r = bpf_map_lookup_elem(&regions, &key);

		if (!r || !r->hva_end)
			return;
		if (hva < r->hva_start || hva >= r->hva_end)
			continue;
		s->first_page = r->first_page + ((hva - r->hva_start) >> DPDC_PAGE_SHIFT);
		s->pages = (r->hva_end - hva) >> DPDC_PAGE_SHIFT;
		if (pages < s->pages)
			s->pages = pages;
		return;
	}
}

/*
 * The part of a dirty event every tracking mode shares: the page's count,
 * its bit in the dirty log, and the event for `attach --record`. The caller
 * has set last_ns and prev_ns (and, for the ring, the record).
 */
static __always_inline void note_dirty(struct dpdc_page *p, __u32 page_key, __u64 now, __u32 vcpu,
				       struct dpdc_counters *c)
{
	__sync_fetch_and_add(&p->count, 1);

	{
		__u32 word_key = page_key / 64;
		__u64 *word = bpf_map_lookup_elem(&dirty_bits, &word_key);

		if (word)
			__sync_fetch_and_or(word, 1ULL << (page_key % 64));
	}

	if (record_events) {
		struct dpdc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

		if (!e) {
			if (c)
				__sync_fetch_and_add(&c->dropped, 1);
			return;
		}
		e->t_ns = now;
		e->page = page_key;
		e->vcpu = vcpu;
		bpf_ringbuf_submit(e, 0);
	}
}

#endif /* DPDC_DIRTY_TRACK_MAPS_BPF_H */
