#pragma once
// Which source of dirty pages a guest gets (`--dirty-source
// auto|ring|fault|content`).
//
// One source per kind of guest, so that a user never has to know the rule:
//  - a VMM with a KVM dirty ring (dpdc-vm, QEMU -accel kvm,dirty-ring-size=N)
//    gets the in-kernel tracker on the ring (ring_dirty_source.h);
//  - a QEMU with KVM but no dirty ring (QEMU's default: KVM's dirty bitmap)
//    gets the tracker in mark mode for history, page hashes for correctness
//    (content_with_mark_history.h): `fault`, as KVM learns of each write
//    by a write fault on a re-protected page;
//  - a QEMU without KVM (TCG) gets page hashes alone (content_dirty_source.h):
//    no kernel hook sees a TCG guest's writes.
// Pure: the caller inspects the process; this only decides.
#include <cstdint>
#include <string>
#include <string_view>

namespace dpdc {

enum class DirtySourceKind { Auto, Ring, Fault, Content };

// "auto", "ring", "fault", "content"; throws Error(Usage) for anything else.
DirtySourceKind parse_dirty_source(std::string_view text);
// What --json reports as "dirty_source": "kvm-dirty-ring", "kvm-dirty-bitmap"
// (fault) or "page-content".
std::string_view dirty_source_json_name(DirtySourceKind kind);

struct VmmKind {
  std::uint64_t pid = 0;
  bool qemu = false;          // a qemu-system-* process (else dpdc-vm or another KVM VMM)
  bool kvm = false;           // holds a KVM VM
  std::uint32_t ring_entries = 0;  // 0: no dirty ring
};

struct VmmProcess;
VmmKind vmm_kind_of(const VmmProcess& process);

// Ring, Fault or Content, never Auto. Throws Error(Target) with the one-line fix
// when the requested source cannot follow this VMM.
DirtySourceKind choose_dirty_source(DirtySourceKind requested, const VmmKind& vmm);

}  // namespace dpdc
