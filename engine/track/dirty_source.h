#pragma once
// Where a live migration learns which guest pages changed, and whether the
// copy it just sent can be trusted. Two sources exist:
//  - RingDirtySource: the in-kernel tracker on KVM's dirty ring (the DPDC
//    design: per-page history kept by BPF);
//  - ContentDirtySource: a hash per page, compared against guest RAM. It sees
//    every write whoever made it (vCPU, device emulation, DMA, a TCG guest),
//    at the cost of reading the RAM on every scan.
#include <cstdint>
#include <span>

#include "base/bitmap.h"
#include "dpdc/dirty_track.h"

namespace dpdc {

enum class Scan {
  Peek,      // during a round (Xen's to_skip): a source may answer from its last scan
  Complete,  // between rounds, and with the guest stopped: every change so far must be reported
};

class DirtySource {
 public:
  virtual ~DirtySource() = default;
  // ORs into `out` the pages changed since the previous call (the first call:
  // since the source began). A page a Peek leaves out is reported by a later call.
  virtual void collect(Bitmap& out, Scan scan) = 0;
  // Per-page dirty history for the policies (may be coarser than the ring's).
  virtual std::span<const dpdc_page> history() = 0;
  // Called before the pages of a batch are read from guest RAM.
  virtual void before_reads() {}
  // `bytes` are exactly what went to the destination for `page`. Returns false
  // when they may predate a write that will never be reported: the page must
  // then be sent again. With the guest stopped every copy is final.
  virtual bool sent(std::uint64_t page, std::span<const std::uint8_t> bytes) = 0;
  virtual void guest_stopped() {}
  // The last collection, with the guest stopped, may run beside the sending
  // of the pages already known to be dirty: start_last_collect() begins it
  // and finish_last_collect() waits for it and ORs its pages into `out`
  // (which must outlive the wait). In between, before_reads(), sent() and
  // known_zero() must be safe beside it. By default it all happens in start.
  virtual void start_last_collect(Bitmap& out) { collect(out, Scan::Complete); }
  virtual void finish_last_collect() {}
  // True when `page` was a hole in the file behind guest RAM at the latest
  // collect (the map may be a round old): it read as zeros, and reading it would
  // only make the kernel allocate it. A page written since is reported by
  // the next collect, like any other change.
  virtual bool known_zero(std::uint64_t) const { return false; }
  // The most events per second history() can record for one page, as
  // measured so far; 0 while unknown. A page is recorded at most once per
  // ring reset (the ring: KVM pushes a page again only after a reset
  // re-protects it, and a QEMU source resets about once a second) or per
  // scan (content), however often it is written in between.
  virtual double history_resolution_hz() { return 0; }
  // True when a copy of `page` read now could not be trusted yet: its latest
  // dirty event is not covered by a re-protection (a ring reset) as of the
  // latest collect(). Sending it now would only mean sending it again, so a
  // live round leaves it for later (PrecopyWorld::awaiting_reset). A source
  // that can trust any copy (page contents) never says so.
  virtual bool awaiting_reset(std::uint64_t) const { return false; }
  // Re-protections seen so far (the ring: resets of all vCPU rings), so that
  // a caller can wait for the next one; 0 for a source that needs none.
  virtual std::uint64_t reprotections() { return 0; }
};

}  // namespace dpdc
