#pragma once
// A running guest as a PrecopyWorld: dirtiness from a DirtySource (the
// in-kernel tracker, or page hashes), page contents from the guest's RAM
// mapping, pages out through the stream writer. The guest itself is reached
// through GuestControl (QMP for a real VMM).
//
// Each page is copied once out of guest RAM; that one copy is what the
// destination receives and what the DirtySource judges (see
// DirtySource::sent): judging the live RAM instead could approve bytes that
// were never sent.
#include <cstdint>
#include <functional>
#include <span>
#include <utility>

#include "precopy/precopy.h"
#include "stream/stream_writer.h"
#include "track/dirty_source.h"

namespace dpdc {

class GuestControl {
 public:
  virtual ~GuestControl() = default;
  // Pauses the guest; when it returns, neither a vCPU nor the VMM's devices
  // write guest RAM any more (the last content scan relies on the latter).
  virtual void stop() = 0;
  // True once stop() may have taken effect, even if it then failed: a
  // migration that fails after that must resume the guest.
  virtual bool stopped() const = 0;
  // Everything but the stream's end-of-file marker is written: from now on
  // the VMM counts the migration as done and must not resume the guest by
  // itself. Called before the marker, so a destination (which resumes only
  // after it) and its source never both run the guest.
  virtual void complete() {}
};

// What a VMM contributes to the stream besides the tracked RAM, fetched with
// the guest stopped.
class DeviceStateSource {
 public:
  virtual ~DeviceStateSource() = default;
  // Inside the last RAM round: pages of RAM blocks the engine does not track
  // (QEMU's ROMs and video memory, for instance).
  virtual void write_final_pages(stream::StreamWriter&) {}
  // After the RAM: one FULL section per device.
  virtual void write_sections(stream::StreamWriter& writer) = 0;
};

class StopFlag;

struct LiveWorldOptions {
  const StopFlag* interrupt = nullptr;  // SIGINT/SIGTERM before the stop abort the migration
  std::size_t block = 0;                // the RAM block's index in the writer's block list
  // Optional: the file whose offset 0 is the RAM's first byte (a memfd, a
  // shared backend). A page in one of its holes when it is due is sent as
  // zeros without being read: reading it through the mapping would allocate
  // it in the VMM, and a sparse guest would leave the migration whole.
  int ram_fd = -1;
  std::uint64_t block_offset = 0;       // byte offset of page 0 inside that block
  DeviceStateSource* devices = nullptr; // its final pages go into the last round
  std::function<void()> before_stop;    // runs just before the guest is stopped
  // Optional: false once the VMM that runs the guest has exited. Asked at
  // most every 100 ms while the guest runs, so that a migration of a VMM
  // killed mid-way ends then, not at the stop.
  std::function<bool()> vmm_alive;
  // Optional: called at most every 100 ms while the guest runs, on the
  // thread that runs the rounds (QEMU's bitmap mode keeps its
  // re-protections coming this way, qemu_bitmap_syncs.h).
  std::function<void()> while_running;
};

class LiveWorld final : public PrecopyWorld {
 public:
  LiveWorld(DirtySource& source, std::span<const std::uint8_t> ram, stream::StreamWriter& writer,
            GuestControl& guest, const LiveWorldOptions& options);

  std::uint64_t total_pages() const override { return ram_.size() / DPDC_PAGE_SIZE; }
  std::uint64_t now_ns() override;
  void collect_dirty(Bitmap& out) override;
  std::span<const dpdc_page> history() override { return source_.history(); }
  double history_resolution_hz() override { return source_.history_resolution_hz(); }
  bool awaiting_reset(std::uint64_t page) override { return !stopped_ && source_.awaiting_reset(page); }
  // Polls the source's re-protections for up to two of its reset intervals
  // (measured, or a second while unknown; at most 2 s); a stop signal ends
  // the wait and the migration, as during a round.
  void await_reset() override;
  void begin_round(std::uint32_t round, bool final_round) override;
  void end_round(std::uint32_t round, bool final_round) override;
  std::uint64_t send_pages(std::span<const std::uint64_t> pages, Bitmap& unproven) override;
  void send_early(const Bitmap& pages, Bitmap& early) const override {
    pages.for_each([&](std::size_t p) {
      if (source_.known_zero(p)) early.set(p);
    });
  }
  void before_stop() override {
    if (options_.before_stop) options_.before_stop();
  }
  void stop_guest() override;
  void start_last_collect(Bitmap& out) override { source_.start_last_collect(out); }
  void finish_last_collect() override { source_.finish_last_collect(); }

 private:
  // Before the stop: a Ctrl-C or a VMM gone ends the migration.
  void check_running();
  // Sends a run of consecutive pages, extent by extent of the RAM file.
  void send_run(std::span<const std::uint64_t> run, Bitmap& unproven);
  // The extent of the RAM file at `page`, clipped to `end`: its end, and
  // whether it is a hole (without a file: data up to `end`).
  std::pair<std::uint64_t, bool> extent_at(std::uint64_t page, std::uint64_t end);

  DirtySource& source_;
  std::span<const std::uint8_t> ram_;
  stream::StreamWriter& writer_;
  GuestControl& guest_;
  LiveWorldOptions options_;
  std::uint64_t periodic_ns_ = 0;  // vmm_alive and while_running, last asked
  bool in_round_ = false;
  bool stopped_ = false;
  Bitmap mapped_;              // pages mapped in bulk (they stay mapped: the file's pages do not move)
  bool populate_works_ = true;  // false before Linux 5.14
  // The last data extent the file showed, [from, until) in pages. Kept: a
  // page once data is read, which is right even if it became a hole since
  // (it reads as zeros). Holes are asked every time: one may have filled.
  // SEEK_HOLE walks every page of the extent, so asking it per batch of a
  // fully written guest would cost a walk to the file's end per batch.
  std::uint64_t data_from_ = 0, data_until_ = 0;
};

}  // namespace dpdc
