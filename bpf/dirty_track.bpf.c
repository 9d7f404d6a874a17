// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0-only)
/*
 * Per-page dirty history of one VMM process, kept in the kernel.
 *
 * One object, two ways to learn of a write, chosen by the loader at load
 * time (loader/dirty_track_loader.h, TrackerMode):
 *  - ring mode (dirty_track_ring.bpf.h): KVM's dirty-ring tracepoints, for a
 *    VMM with a dirty ring (dpdc-vm, QEMU -accel kvm,dirty-ring-size=N);
 *  - mark mode (dirty_track_mark.bpf.h): fentry on the function that logs
 *    every dirty page, for a VMM with KVM's dirty bitmap (QEMU's default).
 * Both fill the same maps (dirty_track_maps.bpf.h), so the engine, bpftool
 * and the pins look the same either way.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "dpdc_core_types.h"
#include "dpdc/dirty_track.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "dirty_track_maps.bpf.h"
#include "dirty_track_ring.bpf.h"
#include "dirty_track_mark.bpf.h"
