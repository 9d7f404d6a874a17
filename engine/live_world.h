#pragma once
// A running guest as a PrecopyWorld: dirtiness from the in-kernel tracker,
// page contents from the guest's RAM mapping, pages out through the stream
// writer. The guest itself is reached through GuestControl (QMP for a real
// VMM).
//
// The no-lost-write rule lives here (see page_proven()): a page's contents
// count only if they were read after KVM re-protected the page following its
// last push and flushed the TLBs; otherwise the page is sent again later.
#include <cstdint>
#include <span>
#include <vector>

#include "dirty_track_loader.h"
#include "precopy.h"
#include "stream_writer.h"

namespace dpdc {

class GuestControl {
 public:
  virtual ~GuestControl() = default;
  // Pauses the guest; when it returns, no vCPU writes guest RAM any more.
  virtual void stop() = 0;
};

// True when `page`'s contents, read after `ring` was sampled, cannot be
// overwritten without a new push. For a page with no push since the tracker
// attached, its last push (if any) predates the tracker: every ring must have
// been reset and flushed since, i.e. reset twice (`all_rings_reset_twice`).
bool page_proven(const dpdc_page& page, const dpdc_ring& ring, bool all_rings_reset_twice);

class StopFlag;

struct LiveWorldOptions {
  std::uint32_t vcpus = 1;   // rings to consult
  const StopFlag* interrupt = nullptr;  // SIGINT/SIGTERM before the stop abort the migration
  std::size_t block = 0;     // the RAM block's index in the writer's block list
  std::uint64_t block_offset = 0;  // byte offset of page 0 inside that block
};

class LiveWorld final : public PrecopyWorld {
 public:
  LiveWorld(DirtyTracker& tracker, std::span<const std::uint8_t> ram, stream::StreamWriter& writer,
            GuestControl& guest, const LiveWorldOptions& options);

  std::uint64_t total_pages() const override { return ram_.size() / DPDC_PAGE_SIZE; }
  std::uint64_t now_ns() override;
  void collect_dirty(Bitmap& out) override;
  std::span<const dpdc_page> history() override { return tracker_.pages(); }
  void begin_round(std::uint32_t round, bool final_round) override;
  void end_round(std::uint32_t round, bool final_round) override;
  std::uint64_t send_pages(std::span<const std::uint64_t> pages, Bitmap& unproven) override;
  void stop_guest() override;

 private:
  void sample_rings();

  DirtyTracker& tracker_;
  std::span<const std::uint8_t> ram_;
  stream::StreamWriter& writer_;
  GuestControl& guest_;
  LiveWorldOptions options_;
  std::vector<dpdc_ring> rings_;
  bool rings_reset_twice_ = false;
  bool stopped_ = false;
};

}  // namespace dpdc
