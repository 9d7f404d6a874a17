#include "cli/migrate_command.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <optional>
#include <ostream>

#include "dpdc/clock.h"
#include "dpdc/error.h"
#include "dpdc/mapping.h"
#include "dpdc/unique_fd.h"
#include "live/migration.h"
#include "live/stop_flag.h"
#include "loader/dirty_track_loader.h"
#include "loader/proc_stat.h"
#include "cli/progress_output.h"
#include "precopy/report_text.h"
#include "qemu/qemu_bitmap_syncs.h"
#include "qemu/qemu_dirty_logging.h"
#include "qemu/qemu_source.h"
#include "session/dirty_source_choice.h"
#include "session/privileges.h"
#include "session/vmm_session.h"
#include "stream/base64.h"
#include "trace/recorder.h"
#include "track/content_dirty_source.h"
#include "track/ring_dirty_source.h"
#include "track/content_with_mark_history.h"
#include "track/ring_with_content_check.h"
#include "track/tracker_recording.h"

namespace dpdc {

namespace {

// The source dpdc-vm over QMP: pausing it is the switchover. Paused for a
// migration, it runs again by itself if this engine goes away before
// complete() (dpdc-vm's migration_hold.h), so even a SIGKILLed engine
// leaves its source running.
class QmpGuest final : public GuestControl {
 public:
  explicit QmpGuest(QmpClient& qmp) : qmp_(qmp) {}
  void stop() override {
    stopped_ = true;
    qmp_.execute("x-dpdc-migration-stop");
  }
  bool stopped() const override { return stopped_; }
  void complete() override { qmp_.execute("x-dpdc-migration-complete"); }

 private:
  QmpClient& qmp_;
  bool stopped_ = false;
};

// dpdc-vm's device state, fetched once the guest is paused.
class QmpDevices final : public DeviceStateSource {
 public:
  explicit QmpDevices(QmpClient& qmp) : qmp_(qmp) {}
  void write_sections(stream::StreamWriter& writer) override {
    auto reply = qmp_.execute("x-dpdc-save-devices");
    for (const auto& s : reply.at("sections")) {
      auto payload = stream::base64_decode(s.at("payload").get<std::string>());
      writer.device_full(s.at("idstr").get<std::string>(), s.at("instance").get<std::uint32_t>(),
                         s.at("version").get<std::uint32_t>(), payload, s.value("vmdesc", nlohmann::json()));
    }
  }

 private:
  QmpClient& qmp_;
};

// The guest's RAM, mapped read-only from the VMM's memfd; the memfd is kept
// open to find its holes (LiveWorldOptions::ram_fd).
struct GuestRamView {
  UniqueFd fd;
  Mapping map;
};
GuestRamView map_guest_ram(pid_t pid, int memfd, std::uint64_t bytes) {
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(memfd);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno(errno, "opening the guest RAM " + path, ErrorKind::Target);
  Mapping map(bytes, PROT_READ, MAP_SHARED, fd.get(), 0, "mapping the guest RAM");
  return {std::move(fd), std::move(map)};
}

// A migration failed with `kind` and `what`: the source guest runs again if
// it was stopped, and the one line the user sees says where the guest is. A
// source VMM that died mid-way is the one cause that matters, whatever
// failed first (a QMP command, a read of its RAM, the stream): exit 3, an
// unusable target process, as when it is gone before the attach.
Error failed(ErrorKind kind, const std::string& what, pid_t pid, GuestControl& guest, QmpClient& qmp) {
  auto gone = [&] {
    return Error(ErrorKind::Target, what + "; the VMM (pid " + std::to_string(pid) +
                                         ") is gone, and the destination never resumes an unfinished stream");
  };
  if (!process_alive(pid)) return gone();
  if (!guest.stopped()) return Error(kind, what + "; the source guest keeps running");
  try {
    qmp.execute("cont");
    return Error(kind, what + "; the source guest runs again");
  } catch (const std::exception& e) {
    // A killed VMM closes its sockets before it is a zombie (tearing down
    // its guest takes a while): a cont refused by a VMM on its way out
    // means it is gone, not that the user should resume it.
    for (int i = 0; i < 40 && process_alive(pid); ++i) ::usleep(50'000);
    if (!process_alive(pid)) return gone();
    return Error(kind, what + "; resuming the source guest failed too (" + e.what() + "): resume it with QMP cont");
  }
}

// What every source shares once its guest, dirty source and devices exist:
// the link, Ctrl-C, the progress line, the run, resuming the source if the
// run fails after the stop, and the report. `extra` adds source-specific
// fields to --json once the run is over.
int migrate_and_report(const MigrateOptions& options, const Destination& dest, const StopFlag& interrupt,
                       DirtySource& source, GuestControl& guest, QmpClient& qmp, MigrationSetup setup, Policy& policy,
                       DeviceStateSource& devices, const std::function<nlohmann::json(const MigrationResult&)>& extra,
                       std::ostream& out) {
  TransportOptions topt;
  topt.max_bytes_per_s = options.max_bandwidth_mb_s * 1e6;
  topt.interrupt = &interrupt;
  topt.stall_ns = static_cast<std::uint64_t>(options.stall_timeout_s * 1e9);
  Transport transport(dest, topt);  // a refused destination fails here, guest untouched
  setup.interrupt = &interrupt;
  setup.vmm_alive = [pid = options.pid] { return process_alive(pid); };
  setup.warmup_ns = static_cast<std::uint64_t>(options.warmup_s * 1e9);
  ProgressStyle style = parse_progress_style(options.progress);
  if (style == ProgressStyle::Auto) style = ::isatty(STDERR_FILENO) ? ProgressStyle::Line : ProgressStyle::None;
  ProgressPrinter progress(style, stderr);
  if (progress.active()) setup.progress = [&](const PrecopyProgress& p) { progress(p); };
  MigrationResult result;
  try {
    result = run_migration(source, guest, setup, transport, policy, &devices);
  } catch (const Error& e) {
    throw failed(e.kind(), e.what(), options.pid, guest, qmp);
  } catch (const std::exception& e) {
    throw failed(ErrorKind::Runtime, e.what(), options.pid, guest, qmp);
  }
  const nlohmann::json more = extra(result);
  if (options.json) {
    auto j = report_to_json(result.report);
    j["destination"] = dest.uri;
    j["wire_bytes"] = result.wire_bytes;
    j["switchover"] = switchover_json(result);
    j["source_status"] = qmp.execute("query-status").value("status", "");
    j.update(more);
    out << j.dump(2) << '\n';
  } else {
    out << format_report(result.report);
    out << "migrated pid " << options.pid << " to " << dest.uri << ": " << result.wire_bytes
        << " bytes on the wire; the source stays paused (quit it with QMP quit)\n";
  }
  return 0;
}

int migrate_dpdc_vm(const MigrateOptions& options, const Destination& dest, Policy& policy, std::ostream& out) {
  if (!options.record.empty()) {
    throw Error(ErrorKind::Usage, "--record with --to records a QEMU guest's content scans; for a dpdc-vm record "
                                  "first (attach --record FILE --seconds N), then migrate");
  }
  VmmSession session = open_vmm_session(options.pid, options.qmp);
  if (!session.is_dpdc_vm) {
    throw Error(ErrorKind::Target, "pid " + std::to_string(options.pid) + " is neither QEMU nor a dpdc-vm");
  }
  if (session.layout.memfd < 0) throw Error(ErrorKind::Target, "the VMM did not name its guest RAM memfd");
  const std::uint64_t ram_bytes = session.layout.pages * DPDC_PAGE_SIZE;
  GuestRamView ram = map_guest_ram(options.pid, session.layout.memfd, ram_bytes);

  StopFlag interrupt;  // before the tracker: Ctrl-C must detach it, not kill the engine
  TrackerOptions to{options.pid, static_cast<std::uint32_t>(session.layout.pages)};
  DirtyTracker tracker(to);
  for (const auto& s : session.layout.slots) tracker.set_slot(s.slot, s.first_page, s.pages);
  RingDirtySource source(tracker, static_cast<std::uint32_t>(std::max(1, session.process.vcpus)));

  MigrationSetup setup;
  setup.machine = "dpdc-vm";
  setup.blocks = {{"dpdc.ram", ram_bytes, std::nullopt}};
  setup.ram = {ram.map.as<const std::uint8_t>(), ram_bytes};
  setup.ram_fd = ram.fd.get();
  QmpGuest guest(*session.qmp);
  QmpDevices devices(*session.qmp);
  return migrate_and_report(options, dest, interrupt, source, guest, *session.qmp, setup, policy, devices,
                            [](const MigrationResult&) { return nlohmann::json{{"dirty_source", "kvm-dirty-ring"}}; },
                            out);
}

// QEMU: device state from QEMU's own migration at the switchover (see
// qemu_source.h); dirtiness from KVM's dirty ring through the tracker, with
// a content check at the stop for what QEMU writes itself
// (ring_with_content_check.h), or from page contents alone
// (content_dirty_source.h) for a TCG guest or on request.
int migrate_qemu(const MigrateOptions& options, const VmmProcess& process, DirtySourceKind kind,
                 const Destination& dest, Policy& policy, std::ostream& out) {
  const bool ring = kind == DirtySourceKind::Ring;
  const bool marks = kind == DirtySourceKind::Fault;
  const bool tracked = ring || marks;
  // The tracker needs its view of QEMU (its memslots placed in the shared
  // backend); content tracking only the backend itself.
  std::optional<VmmSession> session;
  std::optional<QemuSource> own;
  if (tracked) {
    session.emplace(open_vmm_session(options.pid, options.qmp));
  } else {
    own.emplace(process, options.qmp);
  }
  QemuSource& qemu = tracked ? *session->qemu : *own;
  const std::string status = qemu.qmp().execute("query-status").value("status", "");
  if (status != "running") {
    throw Error(ErrorKind::Target, "QEMU pid " + std::to_string(options.pid) + " is '" + status +
                                       "', not running; resume it (QMP cont) before a live migration");
  }
  // First the switchover: it refuses a QEMU already migrating, before
  // anything is attached or turned on.
  QemuSwitchover switchover(qemu.qmp(), qemu.machine());
  StopFlag interrupt;  // before the tracker: Ctrl-C must detach it, not kill the engine
  const std::uint64_t pages = qemu.shared_ram().size() / DPDC_PAGE_SIZE;
  ContentDirtySource content(qemu.shared_ram(), monotonic_ns, qemu.backing_fd());

  // Declared in this order so that they unwind in the reverse one: dirty
  // logging off, the recording finished, the tracker detached.
  std::optional<DirtyTracker> tracker;
  std::optional<TrackerRecording> ring_recording;
  std::optional<QemuDirtyLogging> logging;
  std::optional<RingDirtySource> ring_source;
  std::optional<RingWithContentCheck> checked;
  std::optional<QemuBitmapSyncs> syncs;
  std::optional<ContentWithMarkHistory> with_marks;
  std::optional<TraceRecorder> content_recording;
  DirtySource* source = &content;
  if (tracked) {
    TrackerOptions to{options.pid, static_cast<std::uint32_t>(pages)};
    to.regions = session->layout.regions;
    to.mode = marks ? TrackerMode::Mark : TrackerMode::Ring;
    if (!options.record.empty()) to.record_ring_bytes = options.record_ring_mib << 20;
    tracker.emplace(to);
    if (!options.record.empty()) ring_recording.emplace(*tracker, options.record, pages);
  }
  if (ring) {
    logging.emplace(qemu.qmp());
    ring_source.emplace(*tracker, static_cast<std::uint32_t>(std::max(1, process.vcpus)), logging->began_logging());
    checked.emplace(*ring_source, content);
    source = &*checked;
  } else if (marks) {
    syncs.emplace(qemu.qmp(), monotonic_ns);
    with_marks.emplace(content, *tracker, [&] { return syncs->runs_per_s(); });
    source = &*with_marks;
  } else if (!options.record.empty()) {
    // The trace starts before the source's first scan; replaying it with
    // simulate --start <round1_start_ns / 1e9> plans round 1 from the same history.
    content_recording.emplace(options.record, pages, monotonic_ns());
    content.on_change([&](std::uint64_t page, std::uint64_t t) {
      content_recording->add(dpdc_event{t, static_cast<std::uint32_t>(page), 0});
    });
  }

  MigrationSetup setup;
  setup.machine = qemu.machine();
  setup.blocks = qemu.blocks();
  setup.tracked_block = qemu.shared_block();
  setup.ram = qemu.shared_ram();
  setup.ram_fd = qemu.backing_fd();
  if (syncs) {
    setup.while_running = [&] { syncs->tick(); };
    // QEMU's own migration at the switchover never runs beside a
    // measurement: the last run ends (within a second) while the guest
    // still runs, and the content check at the stop sees what it wrote.
    setup.before_stop = [&] { syncs->finish(); };
  }
  return migrate_and_report(options, dest, interrupt, *source, switchover, qemu.qmp(), setup, policy, switchover,
                            [&](const MigrationResult& result) {
    nlohmann::json j{{"dirty_source", dirty_source_json_name(kind)},
                     {"content_scans", content.scans()},
                     {"qemu_device_state", switchover.qemu_status()}};
    if (ring) {
      j["dirty_logging"] = {{"mechanism", "set-vcpu-dirty-limit"},
                            {"began_with_engine", logging->began_logging()},
                            {"cleared_stale_limit", logging->cleared_stale()}};
    }
    if (marks) {
      j["dirty_logging"] = {{"mechanism", "calc-dirty-rate"},
                            {"mode", "dirty-bitmap"},
                            {"calc_time_s", QemuBitmapSyncs::kCalcTimeS},
                            {"runs", syncs->runs_started()}};
    }
    if (tracker) {
      const auto c = tracker->counters();
      j["tracker"] = {{"mode", tracker_mode_name(tracker->mode())},
                      {"pushes", c.pushes},   {"resets", c.resets}, {"late", c.late},
                      {"lost", c.lost},       {"unmapped", c.unmapped}, {"full_exits", c.full_exits}};
    }
    if (ring_recording) {
      j["recorded"] = ring_recording->finish();
      j["recorded"]["round1_start_ns"] = result.report.first_plan_ns - ring_recording->start_ns();
    } else if (content_recording) {
      content_recording->finish(monotonic_ns());
      j["recorded"] = {{"file", content_recording->path()},
                       {"events", content_recording->events()},
                       {"round1_start_ns", result.report.first_plan_ns - content_recording->start_ns()}};
    }
    return j;
  }, out);
}

}  // namespace

int run_migrate(const MigrateOptions& options, std::ostream& out) {
  // Everything that can be wrong with the command line is found before the guest is touched.
  Destination dest = Destination::parse(options.to);
  PolicyOptions po;
  po.downtime_limit_ms = options.downtime_limit_ms;
  if (options.max_bandwidth_mb_s > 0) po.expected_bandwidth_bytes_per_s = options.max_bandwidth_mb_s * 1e6;
  auto policy = make_policy(options.policy, po);
  const DirtySourceKind wanted = parse_dirty_source(options.dirty_source);

  if (options.pid <= 0) throw Error(ErrorKind::Usage, "--pid must be a positive process id");
  require_process_exists(options.pid);
  require_tracing_privileges();
  VmmProcess process = inspect_process(options.pid);
  const DirtySourceKind kind = choose_dirty_source(wanted, vmm_kind_of(process));
  if (is_qemu(process)) return migrate_qemu(options, process, kind, dest, *policy, out);
  return migrate_dpdc_vm(options, dest, *policy, out);
}

}  // namespace dpdc
