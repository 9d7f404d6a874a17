/* SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0-only) */
/*
 * Ring mode: the per-page history from KVM's dirty ring.
 *
 * KVM calls trace_kvm_dirty_ring_push() once per page each time a vCPU
 * dirties a page that was (re-)protected, after storing the ring entry and
 * incrementing ring->dirty_index; trace_kvm_dirty_ring_reset() fires when
 * KVM_RESET_DIRTY_RINGS has re-protected the harvested entries of a ring.
 * raw_tp programs attach by name, so tracefs need not be mounted.
 *
 * Memslots: a push names (slot, offset). Slots userspace described are used
 * as they are; any other is read from KVM's own memslots and placed in the
 * VMM's RAM through `regions` (struct dpdc_slot says when a cached slot is
 * still valid).
 */
#ifndef DPDC_DIRTY_TRACK_RING_BPF_H
#define DPDC_DIRTY_TRACK_RING_BPF_H

/* The VM a ring belongs to: the ring is embedded in its struct kvm_vcpu. */
static __always_inline __u64 kvm_of_ring(struct kvm_dirty_ring *ring)
{
	struct kvm_vcpu *vcpu;

	if (!ring)
		return 0;
	vcpu = (void *)ring - bpf_core_field_offset(struct kvm_vcpu, dirty_ring);
	return (__u64)BPF_CORE_READ(vcpu, kvm);
}

/*
 * The ring's fields a push needs, read from the kernel's struct in one
 * helper call: a BPF_CORE_READ per field is a bpf_probe_read_kernel() each,
 * and those calls were most of a push's cost.
 */
struct ring_view {
	__u64 gfns; /* kernel address of the entries */
	__u32 dirty_index;
	__u32 size;
	__u32 index; /* the owning vCPU's index */
};

/* A field that cannot be read reads as 0, as a failed BPF_CORE_READ does. */
static __always_inline void read_ring(struct kvm_dirty_ring *ring, struct ring_view *v)
{
	/* Offsets are relocated to the running kernel's at load time: constants to the verifier. */
	__u32 o_dirty = bpf_core_field_offset(struct kvm_dirty_ring, dirty_index);
	__u32 o_size = bpf_core_field_offset(struct kvm_dirty_ring, size);
	__u32 o_gfns = bpf_core_field_offset(struct kvm_dirty_ring, dirty_gfns);
	__u32 o_index = bpf_core_field_offset(struct kvm_dirty_ring, index);
	__u32 end = o_gfns + 8;
	__u8 buf[64] = {};

	*v = (struct ring_view){};
	if (o_dirty > 60 || o_size > 60 || o_gfns > 56 || o_index > 60)
		return;
	end = end > o_dirty + 4 ? end : o_dirty + 4;
	end = end > o_size + 4 ? end : o_size + 4;
	end = end > o_index + 4 ? end : o_index + 4;
	if (end > sizeof(buf) || bpf_probe_read_kernel(buf, end, ring))
		return; /* it zero-filled buf */
	v->dirty_index = *(__u32 *)(buf + o_dirty);
	v->size = *(__u32 *)(buf + o_size);
	v->gfns = *(__u64 *)(buf + o_gfns);
	v->index = *(__u32 *)(buf + o_index);
}

/* kvm->memslots[as_id], or 0. */
static __always_inline struct kvm_memslots *memslots_of(__u64 kvm, __u32 as_id)
{
	struct kvm_memslots *ms = 0;

	if (!kvm || as_id >= 2)
		return 0;
	bpf_probe_read_kernel(&ms, sizeof(ms),
			      (void *)kvm + bpf_core_field_offset(struct kvm, memslots) + as_id * sizeof(void *));
	return ms;
}


/*
 * Reads slot `id` of `ms` the way KVM's id_to_memslot() finds it: the bucket
 * hash_min(id, bits) of id_hash (hash_32 for an int: id * GOLDEN_RATIO_32,
 * top bits), then the chain through id_node[node_idx].
 */
static __always_inline int read_memslot(struct kvm_memslots *ms, __u32 id, struct dpdc_slot *out)
{
	__u32 buckets = bpf_core_field_size(ms->id_hash) / sizeof(struct hlist_head);
	__u32 bits = 0, bucket;
	__u64 node_off;
	struct hlist_node *node = 0;
	int node_idx = BPF_CORE_READ(ms, node_idx);

#pragma unroll
	for (int i = 0; i < 16; i++)
		if ((1u << bits) < buckets)
			bits++;
	if (!bits || (node_idx & ~1))
		return 0;
	bucket = (id * 0x61C88647u) >> (32 - bits);
	bpf_probe_read_kernel(&node, sizeof(node), (void *)ms + bpf_core_field_offset(struct kvm_memslots, id_hash) +
							    bucket * sizeof(struct hlist_head));
	node_off = bpf_core_field_offset(struct kvm_memory_slot, id_node) + node_idx * sizeof(struct hlist_node);
#pragma unroll
	for (int i = 0; i < 16; i++) {
		struct kvm_memory_slot *slot = (void *)node - node_off;

		if (!node)
			return 0;
		if ((__u32)(__u16)BPF_CORE_READ(slot, id) == id) {
			out->userspace_addr = BPF_CORE_READ(slot, userspace_addr);
			place(out, out->userspace_addr, BPF_CORE_READ(slot, npages));
			return 1;
		}
		node = BPF_CORE_READ(node, next);
	}
	return 0;
}

/* The slot a push of `slot` in VM `kvm` names, read through the cache; 0 when unknown. */
static __always_inline struct dpdc_slot *resolve_slot(__u32 slot, __u64 kvm)
{
	struct dpdc_slot *s = bpf_map_lookup_elem(&slots, &slot);
	struct dpdc_slot fresh = {};
	struct kvm_memslots *ms;
	struct dpdc_counters *c;
	__u64 gen;

	if (s && s->generation == DPDC_SLOT_FIXED)
		return s;
	if (!any_region())
		return 0;
	ms = memslots_of(kvm, slot >> 16);
	if (!ms)
		return 0;
	gen = BPF_CORE_READ(ms, generation);
	if (s && s->generation == gen)
		return s;
	if (!read_memslot(ms, slot & 0xffff, &fresh))
		return 0;
	fresh.generation = gen;
	c = global();
	if (c)
		__sync_fetch_and_add(&c->slot_reads, 1);
	bpf_map_update_elem(&slots, &slot, &fresh, BPF_ANY);
	return bpf_map_lookup_elem(&slots, &slot);
}

/*
 * Both address spaces' memslot generations in one number that changes
 * whenever either does (KVM only ever increases them).
 */
static __always_inline __u64 slots_gen_now(__u64 kvm)
{
	struct kvm_memslots *a = memslots_of(kvm, 0), *b = memslots_of(kvm, 1);

	return (a ? BPF_CORE_READ(a, generation) : 0) + (b ? BPF_CORE_READ(b, generation) : 0);
}

/*
 * Account one push of (slot, offset), entry index + 1 == pos on ring
 * ring_idx (ring_and_pos: ring_idx << 32 | pos; a BPF call takes five
 * arguments at most) of VM `kvm` (0: slots from userspace only). In its own
 * tracepoint call the page's record is (ring_idx, pos);
 * accounted late it is (DPDC_RING_ANY, counters.resets now), and the store
 * is a compare-and-swap against the record read first, so that a push
 * accounted in its own call meanwhile (which is newer) is never replaced by
 * an older one without the late rule's wider cover (struct dpdc_page).
 */
static __noinline int account(__u32 slot, __u64 offset, __u64 ring_and_pos, __u64 kvm, __u32 late)
{
	__u32 ring_idx = ring_and_pos >> 32, pos = (__u32)ring_and_pos;
	struct dpdc_counters *c = global();
	struct dpdc_slot *s;
	struct dpdc_page *p;
	__u32 page_key;
	__u64 now, page;

	if (c) {
		__sync_fetch_and_add(&c->pushes, 1);
		if (late)
			__sync_fetch_and_add(&c->late, 1);
	}
	s = resolve_slot(slot, kvm);
	if (!s) {
		if (c)
			__sync_fetch_and_add(&c->unknown_slot, 1);
		note_unknown_slot(slot, offset);
		return 0;
	}
	if (s->first_page == DPDC_NO_PAGE) {
		if (c)
			__sync_fetch_and_add(&c->unmapped, 1);
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
	if (!late) {
		__sync_lock_test_and_set(&p->record, (__u64)pos | (__u64)ring_idx << 32);
	} else {
		for (int tries = 0; tries < 8; tries++) {
			__u64 seen = p->record;
			__u32 rgen = c ? (__u32)c->resets : 0;
			__u64 any = (__u64)rgen | (__u64)DPDC_RING_ANY << 32;

			if (__sync_val_compare_and_swap(&p->record, seen, any) == seen)
				break;
		}
	}
	note_dirty(p, page_key, now, ring_idx, c);
	return 0;

out_of_range:
	if (c)
		__sync_fetch_and_add(&c->out_of_range, 1);
	return 0;
}

/* What catch_up_one() needs; scalars only, so the callback re-looks up the maps. */
struct catch_up_ctx {
	__u64 gfns;     /* kernel address of the ring's entries */
	__u32 ring_idx;
	__u32 until;   /* account entries before this index */
	__u32 own;     /* this index is the calling push's own entry (accounted in time), or ~0 */
	__u32 size;
	__u64 own_slot;
	__u64 own_offset;
	__u64 kvm;
	__u32 slots_changed; /* since the ring's last run in time: late entries cannot be placed */
};

/*
 * bpf_loop callback: claim the ring's next unaccounted entry and account it.
 * Returns 1 (stop) once next_index has reached ctx->until.
 */
static long catch_up_one(__u32 i, void *data)
{
	struct catch_up_ctx *ctx = data;
	struct dpdc_dirty_gfn gfn = {};
	__u32 key = ctx->ring_idx, next;
	struct dpdc_ring *r = bpf_map_lookup_elem(&rings, &key);
	struct dpdc_counters *c;

	if (!r)
		return 1;
	next = r->next_index;
	if ((__s32)(ctx->until - next) <= 0)
		return 1;
	/* KVM reuses an entry's memory size pushes later: older ones are gone. */
	if (ctx->until - next > ctx->size) {
		if (__sync_val_compare_and_swap(&r->next_index, next, ctx->until - ctx->size) == next) {
			c = global();
			if (c)
				__sync_fetch_and_add(&c->lost, (__u64)(ctx->until - ctx->size - next));
		}
		return 0;
	}
	if (__sync_val_compare_and_swap(&r->next_index, next, next + 1) != next)
		return 0; /* another CPU claimed it: look again */
	__sync_fetch_and_add(&r->pushes, 1);
	if (next == ctx->own)
		return account((__u32)ctx->own_slot, ctx->own_offset, (__u64)ctx->ring_idx << 32 | (next + 1), ctx->kvm, 0);
	bpf_probe_read_kernel(&gfn, sizeof(gfn),
			      (void *)(ctx->gfns + (__u64)(next & (ctx->size - 1)) * sizeof(gfn)));
	if (ctx->slots_changed) {
		c = global();
		if (c) {
			__sync_fetch_and_add(&c->pushes, 1);
			__sync_fetch_and_add(&c->late, 1);
			__sync_fetch_and_add(&c->lost, 1);
		}
		return 0;
	}
	return account(gfn.slot, gfn.offset, (__u64)ctx->ring_idx << 32 | (next + 1), ctx->kvm, 1);
}

/*
 * Accounts every entry of the ring before `until` not accounted yet. A run
 * in the ring's own tracepoint call (`in_time`) records the memslot
 * generation it saw, after the entries it accounted.
 */
static __always_inline void catch_up(struct dpdc_ring *r, struct kvm_dirty_ring *ring, const struct ring_view *v,
				     __u32 until, __u32 own, __u64 own_slot, __u64 own_offset, int in_time)
{
	struct catch_up_ctx ctx = {
		.ring_idx = v->index,
		.until = until,
		.own = own,
		.own_slot = own_slot,
		.own_offset = own_offset,
		.gfns = v->gfns,
		.size = v->size,
	};

	__u64 gen = 0;

	if (!ctx.gfns || !ctx.size || (ctx.size & (ctx.size - 1)))
		return;
	if (any_region()) {
		ctx.kvm = kvm_of_ring(ring);
		gen = slots_gen_now(ctx.kvm);
	}
	/* The first sight of a ring starts its accounting here; earlier entries predate the tracker. */
	if (!r->ring_addr) {
		__sync_val_compare_and_swap(&r->next_index, 0, own != ~0u ? own : until);
		r->slots_gen = gen;
		r->ring_addr = (__u64)ring;
	}
	ctx.slots_changed = r->slots_gen != gen;
	if (own != ~0u && until == own + 1 && r->next_index == own &&
	    __sync_val_compare_and_swap(&r->next_index, own, until) == own) {
		/* The usual push: nothing behind it, its own entry alone. What
		 * catch_up_one() would do for it, without the loop's calls. */
		__sync_fetch_and_add(&r->pushes, 1);
		account((__u32)own_slot, own_offset, (__u64)ctx.ring_idx << 32 | until, ctx.kvm, 0);
	} else {
		bpf_loop(ctx.size + 1, catch_up_one, &ctx, 0);
	}
	if (in_time)
		r->slots_gen = gen;
}

SEC("raw_tp/kvm_dirty_ring_push")
int BPF_PROG(dpdc_push, struct kvm_dirty_ring *ring, __u32 slot, __u64 offset)
{
	struct ring_view v;
	struct dpdc_ring *r;
	__u32 ring_idx;

	if (!traced())
		return 0;
	if (!ring) /* BPF_PROG_TEST_RUN without a ring: ring 0, in time */
		return account(slot, offset, 0, 0, 0);
	read_ring(ring, &v);

	/* KVM has stored the entry and incremented dirty_index: it is dirty_index - 1. */
	ring_idx = v.index;
	r = bpf_map_lookup_elem(&rings, &ring_idx);
	if (!r)
		return account(slot, offset, (__u64)ring_idx << 32 | v.dirty_index, kvm_of_ring(ring), 0);
	r->dirty_index = v.dirty_index;
	catch_up(r, ring, &v, v.dirty_index, v.dirty_index - 1, slot, offset, 1);
	return 0;
}

SEC("raw_tp/kvm_dirty_ring_reset")
int BPF_PROG(dpdc_reset, struct kvm_dirty_ring *ring)
{
	struct dpdc_counters *c;
	struct ring_view v;
	struct dpdc_ring *r;
	__u32 ring_idx, gen;

	if (!traced())
		return 0;
	c = global();
	gen = c ? (__u32)__sync_add_and_fetch(&c->resets, 1) : 0;
	read_ring(ring, &v);
	ring_idx = v.index;
	r = bpf_map_lookup_elem(&rings, &ring_idx);
	if (!r)
		return 0;
	/* Every entry this reset covers is accounted before the reset is published. */
	catch_up(r, ring, &v, v.dirty_index, ~0u, 0, 0, 1);
	r->flushed_index = r->reset_index;
	r->reset_index = BPF_CORE_READ(ring, reset_index);
	r->last_reset_ns = bpf_ktime_get_ns();
	r->reset_gen[2] = r->reset_gen[1];
	r->reset_gen[1] = r->reset_gen[0];
	r->reset_gen[0] = gen;
	__sync_fetch_and_add(&r->resets, 1);
	return 0;
}

/*
 * Not attached: the engine runs it (BPF_PROG_TEST_RUN) when it needs every
 * push accounted, e.g. with the guest stopped. Catches up each ring seen so
 * far to the dirty_index KVM has now. ctx: (u64 number of rings to visit).
 */
static long sync_one(__u32 i, void *data)
{
	struct dpdc_ring *r = bpf_map_lookup_elem(&rings, &i);
	struct kvm_dirty_ring *ring;
	struct ring_view v;

	if (!r)
		return 1;
	ring = (struct kvm_dirty_ring *)r->ring_addr;
	if (ring) {
		read_ring(ring, &v);
		v.index = i; /* the map's key: the ring's index when it was first seen */
		catch_up(r, ring, &v, v.dirty_index, ~0u, 0, 0, 0);
	}
	return 0;
}

SEC("raw_tp")
int BPF_PROG(dpdc_sync, __u64 nr_rings)
{
	__u32 n = nr_rings > DPDC_MAX_RINGS ? DPDC_MAX_RINGS : (__u32)nr_rings;

	bpf_loop(n, sync_one, NULL, 0);
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

#endif /* DPDC_DIRTY_TRACK_RING_BPF_H */
