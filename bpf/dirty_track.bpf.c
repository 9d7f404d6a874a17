// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0-only)
/*
 * Per-page dirty history of one VMM process, kept in the kernel.
 *
 * KVM calls trace_kvm_dirty_ring_push() once per page each time a vCPU
 * dirties a page that was (re-)protected, after storing the ring entry and
 * incrementing ring->dirty_index; trace_kvm_dirty_ring_reset() fires when
 * KVM_RESET_DIRTY_RINGS has re-protected the harvested entries of a ring.
 * raw_tp programs attach by name, so tracefs need not be mounted.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "dpdc_core_types.h"
#include "dpdc/dirty_track.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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

SEC("raw_tp/kvm_dirty_ring_push")
int BPF_PROG(dpdc_push, struct kvm_dirty_ring *ring, __u32 slot, __u64 offset)
{
	struct dpdc_counters *c;
	struct dpdc_slot *s;
	struct dpdc_page *p;
	struct dpdc_ring *r;
	__u32 ring_idx, dirty_index, page_key;
	__u64 now, page;

	if (!traced())
		return 0;
	c = global();
	if (c)
		__sync_fetch_and_add(&c->pushes, 1);

	ring_idx = (__u32)BPF_CORE_READ(ring, index);
	dirty_index = BPF_CORE_READ(ring, dirty_index);
	r = bpf_map_lookup_elem(&rings, &ring_idx);
	if (r) {
		r->dirty_index = dirty_index;
		__sync_fetch_and_add(&r->pushes, 1);
	}

	s = bpf_map_lookup_elem(&slots, &slot);
	if (!s) {
		if (c)
			__sync_fetch_and_add(&c->unknown_slot, 1);
		note_unknown_slot(slot, offset);
		return 0;
	}
	page = s->first_page + offset;
	if (offset >= s->pages || page > 0xffffffffULL)
		goto out_of_range;
	page_key = (__u32)page;
	p = bpf_map_lookup_elem(&pages, &page_key);
	if (!p)
		goto out_of_range;

	now = bpf_ktime_get_ns();
	p->prev_ns = p->last_ns;
	p->last_ns = now;
	p->ring_pos = dirty_index;
	p->last_ring = ring_idx;
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
			return 0;
		}
		e->t_ns = now;
		e->page = page_key;
		e->vcpu = ring_idx;
		bpf_ringbuf_submit(e, 0);
	}
	return 0;

out_of_range:
	if (c)
		__sync_fetch_and_add(&c->out_of_range, 1);
	return 0;
}

SEC("raw_tp/kvm_dirty_ring_reset")
int BPF_PROG(dpdc_reset, struct kvm_dirty_ring *ring)
{
	struct dpdc_counters *c;
	struct dpdc_ring *r;
	__u32 ring_idx;

	if (!traced())
		return 0;
	c = global();
	if (c)
		__sync_fetch_and_add(&c->resets, 1);
	ring_idx = (__u32)BPF_CORE_READ(ring, index);
	r = bpf_map_lookup_elem(&rings, &ring_idx);
	if (!r)
		return 0;
	r->flushed_index = r->reset_index;
	r->reset_index = BPF_CORE_READ(ring, reset_index);
	r->last_reset_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&r->resets, 1);
	return 0;
}

SEC("raw_tp/kvm_dirty_ring_exit")
int BPF_PROG(dpdc_ring_full, struct kvm_vcpu *vcpu)
{
	struct dpdc_counters *c;

	if (!traced())
		return 0;
	c = global();
	if (c)
		__sync_fetch_and_add(&c->full_exits, 1);
	return 0;
}
