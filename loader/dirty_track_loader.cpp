#include "loader/dirty_track_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "dirty_track.skel.h"
#include "dpdc/error.h"
#include "loader/proc_stat.h"

namespace dpdc {

namespace {

// libbpf's own messages are kept out of the user's way unless DPDC_DEBUG is
// set; the last warning is folded into our one-line error instead.
thread_local std::string g_last_libbpf_warning;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[512];
  va_list copy;
  va_copy(copy, args);
  std::vsnprintf(buf, sizeof buf, fmt, copy);
  va_end(copy);
  if (level <= LIBBPF_WARN) {
    std::string line(buf);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    if (!line.empty()) g_last_libbpf_warning = line;
  }
  if (std::getenv("DPDC_DEBUG") != nullptr) std::fputs(buf, stderr);
  return 0;
}

void install_libbpf_printer() {
  static const bool once = [] {
    libbpf_set_print(libbpf_print);
    return true;
  }();
  (void)once;
}

[[noreturn]] void throw_bpf(int err, const std::string& what, const std::string& hint) {
  if (err < 0) err = -err;
  if (err == EPERM || err == EACCES) throw_errno(err, what);
  std::string msg = what + ": " + std::strerror(err);
  if (!g_last_libbpf_warning.empty()) msg += " (libbpf: " + g_last_libbpf_warning + ")";
  throw Error(ErrorKind::BpfUnavailable, msg + "; " + hint);
}

struct PinnedMap {
  const char* name;
  bpf_map* (*get)(dirty_track_bpf*);
};

// `owner` first: a directory without it is a half-made pin and counts as stale.
const PinnedMap kPinnedMaps[] = {
    {"owner", [](dirty_track_bpf* s) { return s->maps.owner; }},
    {"pages", [](dirty_track_bpf* s) { return s->maps.pages; }},
    {"slots", [](dirty_track_bpf* s) { return s->maps.slots; }},
    {"regions", [](dirty_track_bpf* s) { return s->maps.regions; }},
    {"rings", [](dirty_track_bpf* s) { return s->maps.rings; }},
    {"unknown_slots", [](dirty_track_bpf* s) { return s->maps.unknown_slots; }},
    {"counters", [](dirty_track_bpf* s) { return s->maps.counters; }},
};

bool owner_alive(const std::filesystem::path& dir) {
  int fd = bpf_obj_get((dir / "owner").c_str());
  if (fd < 0) return false;
  dpdc_owner owner{};
  std::uint32_t key = 0;
  int rc = bpf_map_lookup_elem(fd, &key, &owner);
  ::close(fd);
  if (rc != 0 || owner.engine_pid == 0) return false;
  auto start = process_start_time(static_cast<pid_t>(owner.engine_pid));
  return start && *start == owner.engine_start;
}

std::size_t mmap_bytes(std::size_t bytes) {
  auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

std::uint32_t dirty_word_count(std::uint32_t pages) { return (pages + 63) / 64; }

}  // namespace

std::optional<dpdc_event> event_from_record(std::span<const std::uint8_t> record) noexcept {
  if (record.size() < sizeof(dpdc_event)) return std::nullopt;
  dpdc_event e;
  std::memcpy(&e, record.data(), sizeof e);  // no alignment assumed of the record
  return e;
}

void DirtyTracker::SkelDeleter::operator()(dirty_track_bpf* s) const noexcept { dirty_track_bpf__destroy(s); }
void DirtyTracker::RingDeleter::operator()(ring_buffer* r) const noexcept { ring_buffer__free(r); }

DirtyTracker::DirtyTracker(const TrackerOptions& options) : options_(options) {
  if (options_.vmm_pid <= 0) throw Error(ErrorKind::Usage, "the tracker needs the pid of a VMM process");
  if (options_.pages == 0) throw Error(ErrorKind::Usage, "the tracker needs the guest's page count (got 0)");
  install_libbpf_printer();
  g_last_libbpf_warning.clear();

  if (options_.pin) {
    ensure_bpffs();
    std::error_code ec;
    std::filesystem::create_directories(options_.pin_root, ec);
    if (ec) throw_errno(ec.value(), "creating " + options_.pin_root.string());
    remove_stale_pins(options_.pin_root);
    pin_dir_ = options_.pin_root / std::to_string(options_.vmm_pid);
    if (std::filesystem::exists(pin_dir_)) {
      throw Error(ErrorKind::Target, "another dpdc-engine is already attached to pid " +
                                         std::to_string(options_.vmm_pid) + " (its maps are pinned at " +
                                         pin_dir_.string() + "); stop it first");
    }
  }

  skel_.reset(dirty_track_bpf__open());
  if (!skel_) throw_bpf(errno, "opening the dirty tracker BPF object", "is this kernel built with BPF and BTF?");
  skel_->rodata->target_tgid = static_cast<__u32>(options_.vmm_pid);
  int err = bpf_map__set_max_entries(skel_->maps.pages, options_.pages);
  if (!err) err = bpf_map__set_max_entries(skel_->maps.dirty_bits, dirty_word_count(options_.pages));
  if (err) throw_bpf(err, "sizing the page maps", "try a smaller guest");
  if (options_.record_ring_bytes) {
    const auto bytes = options_.record_ring_bytes;
    if (bytes < 4096 || (bytes & (bytes - 1)) != 0) {
      throw Error(ErrorKind::Usage, "the event ring buffer size must be a power of two of at least 4096 bytes");
    }
    skel_->rodata->record_events = 1;
    err = bpf_map__set_max_entries(skel_->maps.events, bytes);
    if (err) throw_bpf(err, "sizing the event ring buffer", "try a smaller ring buffer");
  }
  // Only the mode's programs are loaded: the other mode's attach targets
  // need not exist (a kernel without dirty-ring tracepoints can still mark).
  const bool ring = options_.mode == TrackerMode::Ring;
  for (bpf_program* p : {skel_->progs.dpdc_push, skel_->progs.dpdc_reset, skel_->progs.dpdc_ring_full,
                         skel_->progs.dpdc_sync}) {
    bpf_program__set_autoload(p, ring);
  }
  bpf_program__set_autoload(skel_->progs.dpdc_mark, !ring);
  if (!options_.attach) {
    // Programs stay loadable for BPF_PROG_TEST_RUN but are not attached.
    bpf_program__set_autoattach(skel_->progs.dpdc_push, false);
    bpf_program__set_autoattach(skel_->progs.dpdc_reset, false);
    bpf_program__set_autoattach(skel_->progs.dpdc_ring_full, false);
    bpf_program__set_autoattach(skel_->progs.dpdc_mark, false);
  }
  // dpdc_sync is never attached: sync() runs it.
  bpf_program__set_autoattach(skel_->progs.dpdc_sync, false);
  err = dirty_track_bpf__load(skel_.get());
  if (err && !ring) {
    throw_bpf(err, "loading the dirty tracker (mark mode) into the kernel",
              "it needs fentry on the kvm module: the module loaded, with BTF (CONFIG_DEBUG_INFO_BTF_MODULES)");
  }
  if (err) throw_bpf(err, "loading the dirty tracker into the kernel", "BPF tracing programs must be allowed here");

  if (options_.regions.size() > DPDC_MAX_REGIONS) {
    throw Error(ErrorKind::Target, "guest RAM is mapped in " + std::to_string(options_.regions.size()) +
                                       " pieces; the tracker places at most " + std::to_string(DPDC_MAX_REGIONS));
  }
  for (std::uint32_t i = 0; i < options_.regions.size(); ++i) {
    check_sys(bpf_map_update_elem(bpf_map__fd(skel_->maps.regions), &i, &options_.regions[i], BPF_ANY),
              "describing where guest RAM is mapped");
  }

  // Mappings are members declared after skel_, so they go before the maps do.
  pages_map_ = Mapping(mmap_bytes(std::size_t{options_.pages} * sizeof(dpdc_page)), PROT_READ, MAP_SHARED,
                       bpf_map__fd(skel_->maps.pages), 0, "mapping the page map");
  pages_ = {pages_map_.as<const dpdc_page>(), options_.pages};
  const std::uint32_t words = dirty_word_count(options_.pages);
  dirty_map_ = Mapping(mmap_bytes(std::size_t{words} * sizeof(std::uint64_t)), PROT_READ | PROT_WRITE, MAP_SHARED,
                       bpf_map__fd(skel_->maps.dirty_bits), 0, "mapping the dirty bitmap");
  dirty_words_ = {dirty_map_.as<std::uint64_t>(), words};
  if (options_.record_ring_bytes) {
    auto thunk = [](void* ctx, void* data, size_t size) -> int {
      auto* self = static_cast<DirtyTracker*>(ctx);
      const auto event = event_from_record({static_cast<const std::uint8_t*>(data), size});
      if (event && self->on_event_) self->on_event_(*event);
      return 0;
    };
    events_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), thunk, this, nullptr));
    if (!events_) {
      int e = errno;
      throw_bpf(e, "opening the event ring buffer", "BPF ring buffers need Linux 5.8");
    }
  }

  // The destructor does not run for a throwing constructor: unpin by hand
  // (members such as the mappings are released by their own destructors).
  try {
    finish_setup();
  } catch (...) {
    unpin_maps();
    throw;
  }
}

void DirtyTracker::finish_setup() {
  if (options_.attach) {
    int err = dirty_track_bpf__attach(skel_.get());
    if (err && options_.mode == TrackerMode::Ring) {
      throw_bpf(err, "attaching to the kvm:kvm_dirty_ring_push/reset tracepoints",
                "this kernel needs KVM with dirty-ring tracepoints");
    }
    if (err) {
      throw_bpf(err, "attaching to KVM's mark_page_dirty_in_slot (fentry)",
                "this kernel needs the kvm module loaded, with BTF (CONFIG_DEBUG_INFO_BTF_MODULES)");
    }
  }

  dpdc_owner owner{};
  owner.engine_pid = static_cast<__u32>(::getpid());
  owner.vmm_pid = static_cast<__u32>(options_.vmm_pid);
  owner.engine_start = process_start_time(::getpid()).value_or(0);
  std::uint32_t key = 0;
  check_sys(bpf_map_update_elem(bpf_map__fd(skel_->maps.owner), &key, &owner, BPF_ANY), "writing the owner map");

  if (options_.pin) pin_maps();
}

DirtyTracker::~DirtyTracker() {
  unpin_maps();
  // Then the members: ring buffer and mappings first, skel_ last, whose
  // destruction detaches the links and frees the programs and maps.
}

void DirtyTracker::pin_maps() {
  std::error_code ec;
  std::filesystem::create_directory(pin_dir_, ec);
  if (ec) throw_errno(ec.value(), "creating " + pin_dir_.string());
  pinned_ = true;  // from here unpin_maps() removes whatever got pinned, even if a pin below fails
  for (const auto& m : kPinnedMaps) {
    auto path = pin_dir_ / m.name;
    int err = bpf_map__pin(m.get(skel_.get()), path.c_str());
    if (err) throw_errno(-err, "pinning " + path.string(), ErrorKind::BpfUnavailable);
  }
}

void DirtyTracker::unpin_maps() noexcept {
  if (!pinned_) return;
  for (const auto& m : kPinnedMaps) {
    auto path = pin_dir_ / m.name;
    ::unlink(path.c_str());
  }
  ::rmdir(pin_dir_.c_str());
  pinned_ = false;
}

void DirtyTracker::set_slot(std::uint32_t slot, std::uint64_t first_page, std::uint64_t pages) {
  dpdc_slot value{first_page, pages, DPDC_SLOT_FIXED, 0};
  check_sys(bpf_map_update_elem(bpf_map__fd(skel_->maps.slots), &slot, &value, BPF_ANY), "describing a memslot");
  // Events of this slot that arrived before it was described stay counted as unknown.
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.unknown_slots), &slot);
}

dpdc_counters DirtyTracker::counters() const {
  dpdc_counters c{};
  std::uint32_t key = 0;
  check_sys(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &key, &c), "reading the counters");
  return c;
}

std::uint32_t DirtyTracker::sync(std::uint32_t vcpus) const {
  if (options_.mode != TrackerMode::Ring) return 0;  // a mark is accounted in its own call, or not at all
  vcpus = std::min<std::uint32_t>(vcpus, DPDC_MAX_RINGS);
  std::uint64_t args[1] = {vcpus};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof args);
  check_sys(bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.dpdc_sync), &opts), "running the tracker's sync");
  std::uint32_t unseen = 0;
  for (std::uint32_t i = 0; i < vcpus; ++i) {
    auto r = ring(i);
    if (!r || r->ring_addr == 0) ++unseen;
  }
  return unseen;
}

std::uint64_t DirtyTracker::skipped_calls() const {
  std::uint64_t misses = 0;
  for (const bpf_program* p :
       {skel_->progs.dpdc_push, skel_->progs.dpdc_reset, skel_->progs.dpdc_ring_full, skel_->progs.dpdc_mark}) {
    if (bpf_program__fd(p) < 0) continue;  // the other mode's, not loaded
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    check_sys(bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len), "reading the tracker's program info");
    misses += info.recursion_misses;
  }
  return misses;
}

std::optional<dpdc_ring> DirtyTracker::ring(std::uint32_t index) const {
  if (index >= DPDC_MAX_RINGS) return std::nullopt;
  dpdc_ring r{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.rings), &index, &r) != 0) return std::nullopt;
  return r;
}

std::vector<UnknownSlot> DirtyTracker::unknown_slots() const {
  std::vector<UnknownSlot> out;
  int fd = bpf_map__fd(skel_->maps.unknown_slots);
  std::uint32_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    UnknownSlot u{next, {}};
    if (bpf_map_lookup_elem(fd, &next, &u.info) == 0) out.push_back(u);
    key = next;
    prev = &key;
  }
  return out;
}

std::vector<std::pair<std::uint32_t, dpdc_slot>> DirtyTracker::slots() const {
  std::vector<std::pair<std::uint32_t, dpdc_slot>> out;
  int fd = bpf_map__fd(skel_->maps.slots);
  std::uint32_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    dpdc_slot s{};
    if (bpf_map_lookup_elem(fd, &next, &s) == 0) out.emplace_back(next, s);
    key = next;
    prev = &key;
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

int DirtyTracker::poll_events(const std::function<void(const dpdc_event&)>& on_event, int timeout_ms) {
  if (!events_) throw Error(ErrorKind::Usage, "this tracker was attached without recording");
  on_event_ = on_event;
  int n = ring_buffer__poll(events_.get(), timeout_ms);
  on_event_ = nullptr;
  if (n == -EINTR) return 0;
  if (n < 0) throw_errno(-n, "reading the event ring buffer");
  return n;
}

int DirtyTracker::program_fd(TrackerProgram program) const {
  switch (program) {
    case TrackerProgram::Push: return bpf_program__fd(skel_->progs.dpdc_push);
    case TrackerProgram::Reset: return bpf_program__fd(skel_->progs.dpdc_reset);
    case TrackerProgram::RingFull: return bpf_program__fd(skel_->progs.dpdc_ring_full);
    case TrackerProgram::Sync: return bpf_program__fd(skel_->progs.dpdc_sync);
    case TrackerProgram::Mark: return bpf_program__fd(skel_->progs.dpdc_mark);
  }
  return -1;
}

const char* tracker_mode_name(TrackerMode mode) noexcept { return mode == TrackerMode::Mark ? "mark" : "ring"; }

std::vector<std::filesystem::path> DirtyTracker::remove_stale_pins(const std::filesystem::path& pin_root) {
  std::vector<std::filesystem::path> removed;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(pin_root, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (owner_alive(entry.path())) continue;
    for (const PinnedMap& m : kPinnedMaps) ::unlink((entry.path() / m.name).c_str());
    if (::rmdir(entry.path().c_str()) == 0) removed.push_back(entry.path());
  }
  return removed;
}

}  // namespace dpdc
