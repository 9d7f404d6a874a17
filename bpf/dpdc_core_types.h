/* SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0-only) */
/*
 * The few kernel types the tracker reads, declared for CO-RE: field offsets
 * are relocated against the running kernel's BTF at load time, so the object
 * does not depend on the kernel it was built on. Keep this minimal; do not
 * replace it with a full vmlinux.h dump.
 */
#ifndef DPDC_CORE_TYPES_H
#define DPDC_CORE_TYPES_H

#include <linux/types.h>

/* One ring entry: uapi struct kvm_dirty_gfn (<linux/kvm.h>), a fixed layout. */
struct dpdc_dirty_gfn {
	__u32 flags;
	__u32 slot;
	__u64 offset;
};

struct kvm_dirty_ring {
	__u32 dirty_index;
	__u32 reset_index;
	__u32 size;
	__u32 soft_limit;
	void *dirty_gfns; /* size entries of struct dpdc_dirty_gfn */
	int index; /* the owning vCPU's index */
} __attribute__((preserve_access_index));

/* Slot discovery: ring -> its vCPU -> the VM -> the VM's memslots. */
struct hlist_node {
	struct hlist_node *next, **pprev;
} __attribute__((preserve_access_index));

struct hlist_head {
	struct hlist_node *first;
} __attribute__((preserve_access_index));

struct kvm_memory_slot {
	struct hlist_node id_node[2]; /* in kvm_memslots.id_hash; node_idx picks which */
	__u64 base_gfn;
	unsigned long npages;
	unsigned long userspace_addr;
	short id;
	__u16 as_id;
} __attribute__((preserve_access_index));

/* Since Linux 5.17: a slot is found by id in id_hash, hashed with hash_min(). */
struct kvm_memslots {
	__u64 generation;
	struct hlist_head id_hash[128];
	int node_idx;
} __attribute__((preserve_access_index));

struct kvm {
	struct kvm_memslots *memslots[2];
} __attribute__((preserve_access_index));

struct kvm_vcpu {
	struct kvm *kvm;
	struct kvm_dirty_ring dirty_ring;
} __attribute__((preserve_access_index));

#endif /* DPDC_CORE_TYPES_H */
