/* SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0-only) */
/*
 * Map value layouts of the dirty tracker, shared by bpf/dirty_track.bpf.c
 * and the C++ engine. The same maps serve both tracking modes: ring mode
 * (KVM's dirty-ring tracepoints) and mark mode (KVM's dirty bitmap, every
 * logged page seen at mark_page_dirty_in_slot); where a field means
 * something else in mark mode, it says so. Plain C with fixed-width types only: the same bytes
 * are read by BPF, by userspace through mmap, and by bpftool through BTF.
 *
 * Page numbering: a guest RAM page's index is its byte offset inside the
 * VMM's RAM (for dpdc-vm: the memfd offset; for QEMU: the offset in its
 * shared RAM backend) divided by 4096. The `slots` map tells the BPF program
 * where each KVM memslot starts in that numbering. Userspace fills it when
 * it knows the VMM's memslots (dpdc-vm publishes them); otherwise (QEMU
 * publishes neither slot ids nor layout) the programs read each slot from
 * KVM itself and place it through the `regions` map (struct dpdc_region).
 */
#ifndef DPDC_DIRTY_TRACK_H
#define DPDC_DIRTY_TRACK_H

#include <linux/types.h>

#define DPDC_PAGE_SHIFT 12
#define DPDC_PAGE_SIZE (1u << DPDC_PAGE_SHIFT)
#define DPDC_MAX_SLOTS 512
#define DPDC_MAX_RINGS 1024
#define DPDC_MAX_REGIONS 16

/*
 * One guest page (value of map `pages`, key = page index). 32 bytes, so a
 * 16 GiB guest (4 Mi pages) costs 128 MiB of locked kernel memory.
 *
 * ring_pos and last_ring say when KVM has re-protected the page after its
 * last push. They are written together as one 64-bit store (`record`), so a
 * reader that loads `record` at once never sees one without the other.
 *
 * last_ring < DPDC_RING_ANY: ring_pos is that ring's dirty_index right after
 * the push (push entry index + 1). KVM has re-protected the page once
 * rings[last_ring].reset_index has reached ring_pos in u32 serial arithmetic,
 * (__s32)(reset_index - ring_pos) >= 0, and the TLB flush that goes with it
 * is done once flushed_index has (see struct dpdc_ring). Until then the
 * guest may write the page again without a new event.
 *
 * last_ring == DPDC_RING_ANY: the last push was accounted late (its own
 * tracepoint call did not run the program; see struct dpdc_ring, next_index),
 * so its order against pushes on other rings is unknown. ring_pos is then
 * counters.resets as of the late accounting, and the page is re-protected
 * once every ring has been reset three times since: (__s32)(reset_gen[2] -
 * ring_pos) > 0 on every ring.
 */
#define DPDC_RING_ANY 0xffffffffu

/*
 * Mark mode: last_ns, prev_ns and count are those of marks (KVM logging the
 * page dirty: its first write since the VMM last re-protected it, or a
 * write by KVM itself); record stays 0, as re-protections are not tracked.
 */

struct dpdc_page {
	__u64 last_ns;   /* bpf_ktime_get_ns() of the last push (CLOCK_MONOTONIC); late: when accounted */
	__u64 prev_ns;   /* time of the push before it, 0 if none */
	union {
		struct {
			__u32 ring_pos;  /* see above */
			__u32 last_ring; /* vCPU index of the ring that took the last push, or DPDC_RING_ANY */
		};
		__u64 record;    /* ring_pos | (__u64)last_ring << 32, stored at once */
	};
	__u32 count;     /* pushes since the tracker attached */
	__u32 history;   /* reserved for the predictor; 0 for now */
};

/*
 * A KVM memslot (key = as_id << 16 | slot id, as in ring entries).
 *
 * generation == DPDC_SLOT_FIXED: set by userspace, used as is.
 * Otherwise read by the programs from the VMM's struct kvm (ring -> its
 * kvm_vcpu -> kvm -> memslots[as_id] -> id_hash, fields relocated against
 * the kvm module's BTF) and cached: it is valid while that kvm_memslots'
 * generation, which KVM changes on every memslot update, is the one
 * recorded here. The slot's pages are those of its host addresses
 * [userspace_addr, + pages * 4096) inside a region; first_page ==
 * DPDC_NO_PAGE when the slot lies in no region (RAM the engine does not
 * migrate: a VMM's ROMs, video RAM). A slot id KVM deletes and creates anew
 * at another address gets a new generation, so its pushes are placed by the
 * new slot, never the old one.
 */
#define DPDC_SLOT_FIXED 0xffffffffffffffffULL
#define DPDC_NO_PAGE 0xffffffffffffffffULL

struct dpdc_slot {
	__u64 first_page;     /* page index of the slot's first page, or DPDC_NO_PAGE */
	__u64 pages;          /* slot length in pages; larger offsets are out of range */
	__u64 generation;     /* DPDC_SLOT_FIXED, or the memslots generation it was read at */
	__u64 userspace_addr; /* discovered slots: the host address of its first page */
};

/*
 * Where guest RAM lies in the VMM's address space (array map `regions`,
 * filled by userspace from /proc/<pid>/maps: the mappings of the file
 * behind guest RAM). Entries after the first with hva_end == 0 are unused;
 * no region at all means slot discovery is off.
 */
struct dpdc_region {
	__u64 hva_start;  /* page aligned */
	__u64 hva_end;    /* exclusive */
	__u64 first_page; /* page index of hva_start */
};

/*
 * Reset progress of one vCPU's dirty ring (key = vCPU index).
 *
 * The reset tracepoint fires inside KVM_RESET_DIRTY_RINGS before KVM flushes
 * the TLBs, so a vCPU may still write through a stale mapping until the
 * ioctl returns. flushed_index is reset_index as of the ring's previous reset:
 * a VMM resets its rings one ioctl at a time, so by the time a new reset
 * fires the previous ioctl, flush included, has finished. A page whose push
 * lies before flushed_index is truly write-protected again.
 *
 * Missed tracepoint calls: the kernel skips a BPF program rather than nest
 * it on one CPU, and on a preemptible kernel (Linux 7.x by default) a vCPU
 * thread preempted inside the push program makes the next push on that CPU
 * skip it (bpftool: recursion_misses). No push is lost for that: KVM keeps
 * every pushed entry in the ring's memory, and the programs account every
 * entry from next_index on, in ring order, claiming each with a
 * compare-and-swap: the push program before its own entry, the reset
 * program before it publishes reset_index (so a reset never covers an entry
 * not yet accounted), and dpdc_sync, which the engine runs whenever it needs
 * the tracker complete (it reads dirty_index from the ring at ring_addr).
 * Entries accounted that way are late (DPDC_RING_ANY, struct dpdc_page).
 */
struct dpdc_ring {
	__u32 dirty_index;   /* after the latest push seen */
	__u32 reset_index;   /* after the latest reset seen */
	__u32 flushed_index; /* reset_index of the reset before the latest */
	__u32 next_index;    /* entries before it are accounted (valid once ring_addr is set) */
	__u64 pushes;        /* entries accounted for this ring */
	__u64 resets;        /* kvm_dirty_ring_reset events for this ring */
	__u64 last_reset_ns;
	__u64 ring_addr;     /* kernel address of the struct kvm_dirty_ring, 0 until first seen */
	__u32 reset_gen[3];  /* counters.resets after each of the ring's last three resets, latest first */
	__u32 pad;
	/*
	 * Discovered slots: the memslots generation at the ring's latest program
	 * run in its own tracepoint call. An entry accounted late was pushed
	 * after that run; if the generation has changed since, its slot may
	 * have been moved or replaced in between, so its page cannot be named:
	 * it counts as lost (every page may be dirty), never as another page.
	 */
	__u64 slots_gen;
};

/* Events in a memslot the engine has not described (key = slot as above). */
struct dpdc_unknown_slot {
	__u64 events;
	__u64 max_offset;
};

/* Global counters (single entry of map `counters`). */
struct dpdc_counters {
	__u64 pushes;       /* all pushes of the traced process (mark mode: all marks) */
	__u64 resets;       /* all ring resets of the traced process (mark mode: 0) */
	__u64 unknown_slot; /* pushes in a slot missing from `slots` (mark mode: marks without a memslot) */
	__u64 out_of_range; /* pushes beyond the slot length or the page map */
	__u64 full_exits;   /* kvm_dirty_ring_exit: vCPU exits for a full ring */
	__u64 dropped;      /* recorded events lost because the ring buffer was full */
	__u64 late;         /* entries accounted after their own tracepoint call was skipped */
	__u64 lost;         /* entries overwritten in the ring before they could be accounted, or
			     * accounted late across a memslot change (struct dpdc_ring, slots_gen) */
	__u64 unmapped;     /* pushes (marks) in a discovered slot outside every region (VMM-private RAM) */
	__u64 slot_reads;   /* memslots read from KVM (first sight, or after a memslot change) */
};

/*
 * One recorded dirty event (ring buffer `events`, when recording is on).
 * Same layout as a record of the trace file format (engine/trace/trace.h).
 */
struct dpdc_event {
	__u64 t_ns; /* bpf_ktime_get_ns() */
	__u32 page;
	__u32 vcpu;
};

/*
 * Who holds the pins (single entry of map `owner`, written by the loader
 * after load). A later attach finds a pin directory whose engine is gone
 * and removes it; one whose engine still runs is left alone.
 */
struct dpdc_owner {
	__u32 engine_pid;
	__u32 vmm_pid;
	__u64 engine_start; /* /proc/<engine_pid>/stat starttime, guards pid reuse */
};

#endif /* DPDC_DIRTY_TRACK_H */
