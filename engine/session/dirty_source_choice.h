#pragma once
// Which source of dirty pages a guest gets (`--dirty-source auto|ring|content`).
//
// One source per kind of guest, so that a user never has to know the rule:
//  - a VMM with a KVM dirty ring (dpdc-vm, QEMU -accel kvm,dirty-ring-size=N)
//    gets the in-kernel tracker (ring_dirty_source.h);
//  - a QEMU without KVM (TCG) gets page hashes (content_dirty_source.h): no
//    kernel tracepoint sees a TCG guest's writes;
//  - a QEMU with KVM but without a dirty ring is refused under auto: its
//    writes could be tracked by BPF if QEMU had a ring, and a content scan
//    is a cost the user should choose knowingly (--dirty-source content).
// Pure: the caller inspects the process; this only decides.
#include <cstdint>
#include <string>
#include <string_view>

namespace dpdc {

enum class DirtySourceKind { Auto, Ring, Content };

// "auto", "ring", "content"; throws Error(Usage) for anything else.
DirtySourceKind parse_dirty_source(std::string_view text);
// What --json reports as "dirty_source": "kvm-dirty-ring" or "page-content".
std::string_view dirty_source_json_name(DirtySourceKind kind);

struct VmmKind {
  std::uint64_t pid = 0;
  bool qemu = false;          // a qemu-system-* process (else dpdc-vm or another KVM VMM)
  bool kvm = false;           // holds a KVM VM
  std::uint32_t ring_entries = 0;  // 0: no dirty ring
};

struct VmmProcess;
VmmKind vmm_kind_of(const VmmProcess& process);

// Ring or Content, never Auto. Throws Error(Target) with the one-line fix
// when the requested source cannot follow this VMM.
DirtySourceKind choose_dirty_source(DirtySourceKind requested, const VmmKind& vmm);

}  // namespace dpdc
