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

struct kvm_vcpu;

#endif /* DPDC_CORE_TYPES_H */
