#pragma once
// RAII owner of the dirty tracker (bpf/dirty_track.bpf.c) for one VMM
// process: open, set the target tgid and the page map size, load the
// programs of its mode, attach them, pin the maps under <pin_root>/<vmm pid>/. The destructor
// detaches and unpins, so every exit path that unwinds leaves nothing behind;
// a pin directory left by a killed engine is removed by the next attach.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dpdc/dirty_track.h"
#include "dpdc/mapping.h"

struct dirty_track_bpf;
struct ring_buffer;

namespace dpdc {

// How the programs learn of a write (bpf/dirty_track.bpf.c):
//  - Ring: KVM's dirty-ring tracepoints, for a VMM with a dirty ring;
//  - Mark: fentry on KVM's mark_page_dirty_in_slot, for a VMM that keeps
//    KVM's dirty bitmap (QEMU without dirty-ring-size). No ring exists then:
//    sync() has nothing to catch up and ring() has nothing to say.
enum class TrackerMode { Ring, Mark };

struct TrackerOptions {
  pid_t vmm_pid = 0;        // only events of this process are recorded
  std::uint32_t pages = 0;  // size of the per-page map (page indices 0..pages-1)
  std::filesystem::path pin_root = "/sys/fs/bpf/dpdc";
  bool pin = true;
  bool attach = true;  // false: load only (tests drive the programs with BPF_PROG_TEST_RUN)
  // Also stream every dirty event through a ring buffer of this many bytes
  // (a power of two, at least 4096); 0: no recording.
  std::uint32_t record_ring_bytes = 0;
  // Where guest RAM lies in the VMM's address space (at most
  // DPDC_MAX_REGIONS), written before the programs attach. With regions, a
  // memslot that set_slot() did not describe is read from KVM's own
  // memslots and placed through them (struct dpdc_slot); without, such
  // pushes count as unknown_slot.
  std::vector<dpdc_region> regions;
  TrackerMode mode = TrackerMode::Ring;
};

enum class TrackerProgram { Push, Reset, RingFull, Sync, Mark };

struct UnknownSlot {
  std::uint32_t slot;
  dpdc_unknown_slot info;
};

class DirtyTracker {
 public:
  explicit DirtyTracker(const TrackerOptions& options);
  ~DirtyTracker();
  DirtyTracker(DirtyTracker&&) = delete;
  DirtyTracker& operator=(DirtyTracker&&) = delete;
  DirtyTracker(const DirtyTracker&) = delete;
  DirtyTracker& operator=(const DirtyTracker&) = delete;

  // Describe memslot `slot` (as_id << 16 | id) as pages [first_page, first_page + pages).
  // A described slot is used as is, never read from KVM.
  void set_slot(std::uint32_t slot, std::uint64_t first_page, std::uint64_t pages);

  // Live view of the per-page records (the map is mmapped; values change under you).
  std::span<const dpdc_page> pages() const noexcept { return pages_; }
  // The dirty log: bit p % 64 of word p / 64 is set by every push of page p.
  // Take words with an atomic exchange (std::atomic_ref) so no push is lost.
  std::span<std::uint64_t> dirty_words() const noexcept { return dirty_words_; }
  dpdc_counters counters() const;
  // Accounts every push KVM has made on the rings of vCPUs [0, vcpus) that
  // the programs have not accounted yet (their tracepoint call was skipped,
  // see struct dpdc_ring): after it returns, every push made before the call
  // is in pages(), dirty_words() and counters(). Rings never seen by the
  // programs (no push or reset since attach) are left out; returns how many
  // of [0, vcpus) those are.
  std::uint32_t sync(std::uint32_t vcpus) const;
  // Tracepoint calls that skipped one of the tracker's programs since it was
  // loaded (the kernel's recursion_misses, for every process's calls). While
  // it is 0, every push ran the push program: a ring the programs never saw
  // holds no push. Kernels that can skip (preemptible tracepoint callbacks,
  // 7.x) count these; older ones run the callbacks with preemption off and
  // never skip.
  std::uint64_t skipped_calls() const;
  std::optional<dpdc_ring> ring(std::uint32_t index) const;
  std::vector<UnknownSlot> unknown_slots() const;
  // The memslots the programs use, described or read from KVM (key as in set_slot).
  std::vector<std::pair<std::uint32_t, dpdc_slot>> slots() const;

  // With recording on: calls `on_event` for each recorded event, waiting up
  // to timeout_ms for the first; returns how many were consumed.
  int poll_events(const std::function<void(const dpdc_event&)>& on_event, int timeout_ms);

  const std::filesystem::path& pin_dir() const noexcept { return pin_dir_; }
  pid_t vmm_pid() const noexcept { return options_.vmm_pid; }
  TrackerMode mode() const noexcept { return options_.mode; }
  int program_fd(TrackerProgram program) const;

  // Removes pin directories under pin_root whose engine is no longer running.
  // Only what an engine pins is touched: directories named by a pid, and in
  // them the tracker's own map names; a directory that still holds anything
  // else stays (with the tracker's pins gone). Returns the directories removed.
  static std::vector<std::filesystem::path> remove_stale_pins(const std::filesystem::path& pin_root);

 private:
  void finish_setup();
  void pin_maps();
  void unpin_maps() noexcept;

  TrackerOptions options_;
  struct SkelDeleter {
    void operator()(dirty_track_bpf* s) const noexcept;
  };
  std::unique_ptr<dirty_track_bpf, SkelDeleter> skel_;
  struct RingDeleter {
    void operator()(ring_buffer* r) const noexcept;
  };
  std::unique_ptr<ring_buffer, RingDeleter> events_;
  std::function<void(const dpdc_event&)> on_event_;
  Mapping pages_map_;
  Mapping dirty_map_;
  std::span<const dpdc_page> pages_;
  std::span<std::uint64_t> dirty_words_;
  std::filesystem::path pin_dir_;
  bool pinned_ = false;
};

// One record of the event ring buffer as the kernel hands it over: the
// programs' dpdc_event, or nullopt for a record too short to hold one.
// Pure (fuzz/bpf_records_fuzz.cpp).
std::optional<dpdc_event> event_from_record(std::span<const std::uint8_t> record) noexcept;

// Makes sure a BPF filesystem is mounted at `root` (mounting one if not).
void ensure_bpffs(const std::filesystem::path& root = "/sys/fs/bpf");

// Throws Error(BpfUnavailable) unless this kernel loads raw tracepoint
// programs, Error(Permission) when it would but we may not.
void require_bpf_support();

// "ring" or "mark": what --json and the docs call a mode.
const char* tracker_mode_name(TrackerMode mode) noexcept;

}  // namespace dpdc
