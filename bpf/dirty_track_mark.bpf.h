/* SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0-only) */
/*
 * Mark mode: the per-page history of a VMM whose KVM keeps a dirty bitmap
 * (QEMU's default: KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG, no ring).
 *
 * Every page KVM logs as dirty goes through mark_page_dirty_in_slot(kvm,
 * memslot, gfn): the fast page-fault path that makes a write-protected page
 * writable again, the slow path that maps it writable, the flush of Intel's
 * PML buffer at each VM exit, and KVM's own writes to guest memory (steal
 * time, pvclock). The page-fault tracepoints see less and say less:
 * kvm:kvm_page_fault fires for reads as well, carries only the guest
 * physical address (the slot would have to be looked up by address), never
 * fires for a PML-logged write (Intel's default), and KVM may map a page
 * writable on a read fault, so that the write that follows takes no fault
 * at all; kvmmmu:fast_page_fault covers the fast path only, and its fields
 * changed between versions. docs/bitmap-tracking.md has the comparison.
 *
 * The function is exported by the kvm module and called across translation
 * units, so it is never inlined into its main callers; fentry reaches it
 * through the module's BTF. The memslot comes with the call: the page is
 * its host address placed through `regions`, with no slot lookup.
 *
 * What a mark means: the first write to the page since KVM last
 * re-protected it (or a write by KVM itself). How often a page can be marked
 * depends on how often the VMM re-protects (docs/qemu.md, bitmap mode). The
 * record field of struct dpdc_page stays 0: re-protection times are not
 * tracked in this mode, and a copy's correctness is checked by content
 * (engine/track/content_with_mark_history.h).
 */
#ifndef DPDC_DIRTY_TRACK_MARK_BPF_H
#define DPDC_DIRTY_TRACK_MARK_BPF_H

SEC("fentry/mark_page_dirty_in_slot")
int BPF_PROG(dpdc_mark, struct kvm *kvm, const struct kvm_memory_slot *memslot, __u64 gfn)
{
	struct dpdc_counters *c;
	struct dpdc_slot placed = {};
	struct dpdc_page *p;
	__u64 base, npages, now;
	__u32 page_key;

	if (!traced())
		return 0;
	c = global();
	if (c)
		__sync_fetch_and_add(&c->pushes, 1);
	if (!memslot) {
		/* KVM found no slot for the address: nothing was logged. */
		if (c)
			__sync_fetch_and_add(&c->unknown_slot, 1);
		return 0;
	}
	base = BPF_CORE_READ(memslot, base_gfn);
	npages = BPF_CORE_READ(memslot, npages);
	if (gfn < base || gfn - base >= npages)
		goto out_of_range;
	place(&placed, BPF_CORE_READ(memslot, userspace_addr) + ((gfn - base) << DPDC_PAGE_SHIFT), 1);
	if (placed.first_page == DPDC_NO_PAGE) {
		if (c)
			__sync_fetch_and_add(&c->unmapped, 1);
		return 0;
	}
	if (placed.first_page > 0xffffffffULL)
		goto out_of_range;
	page_key = (__u32)placed.first_page;
	p = bpf_map_lookup_elem(&pages, &page_key);
	if (!p)
		goto out_of_range;
	now = bpf_ktime_get_ns();
	p->prev_ns = p->last_ns;
	p->last_ns = now;
	note_dirty(p, page_key, now, 0, c);
	return 0;

out_of_range:
	if (c)
		__sync_fetch_and_add(&c->out_of_range, 1);
	return 0;
}

#endif /* DPDC_DIRTY_TRACK_MARK_BPF_H */
