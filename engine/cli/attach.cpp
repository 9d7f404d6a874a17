#include "cli/attach.h"

#include <optional>
#include <ostream>

#include "cli/observe.h"
#include "dpdc/clock.h"
#include "dpdc/error.h"
#include "live/proc_inspect.h"
#include "live/stop_flag.h"
#include "loader/dirty_track_loader.h"
#include "qemu/qemu_bitmap_syncs.h"
#include "qemu/qemu_dirty_logging.h"
#include "qemu/qemu_record.h"
#include "qemu/qemu_source.h"
#include "session/dirty_source_choice.h"
#include "session/privileges.h"
#include "session/vmm_session.h"
#include "track/tracker_recording.h"

namespace dpdc {

int run_attach(const AttachOptions& options, std::ostream& out) {
  if (!options.observe && options.record.empty()) {
    throw Error(ErrorKind::Usage,
                "attach has nothing to do: add --observe to watch the guest's dirty pages or --record FILE to trace them");
  }
  if (options.pid <= 0) throw Error(ErrorKind::Usage, "--pid must be a positive process id");
  const DirtySourceKind wanted = parse_dirty_source(options.dirty_source);
  require_process_exists(options.pid);
  require_tracing_privileges();
  DirtySourceKind kind;
  {
    VmmProcess process = inspect_process(options.pid);
    kind = choose_dirty_source(wanted, vmm_kind_of(process));
    if (kind == DirtySourceKind::Content) {
      return record_qemu_by_content({options.pid, options.qmp, options.record, options.seconds,
                                     options.interval_scan, options.json},
                                    process, out);
    }
  }
  VmmSession session = open_vmm_session(options.pid, options.qmp);
  const VmmProcess& vmm = session.process;
  MemoryLayout& layout = session.layout;

  StopFlag stop;  // before attaching, so a signal during setup still unwinds cleanly
  TrackerOptions to{options.pid, static_cast<std::uint32_t>(layout.pages)};
  if (!options.record.empty()) to.record_ring_bytes = options.record_ring_mib << 20;
  to.regions = layout.regions;
  const bool marks = kind == DirtySourceKind::Fault;
  to.mode = marks ? TrackerMode::Mark : TrackerMode::Ring;
  DirtyTracker tracker(to);
  for (const auto& s : layout.slots) tracker.set_slot(s.slot, s.first_page, s.pages);
  // QEMU logs dirty pages only while something uses its dirty log: from
  // here on, with the tracker attached, every push is seen. Without a ring,
  // QEMU re-protects only while it measures its dirty rate: the engine keeps
  // it measuring.
  std::optional<QemuDirtyLogging> logging;
  std::optional<QemuBitmapSyncs> syncs;
  if (session.qemu && marks) {
    syncs.emplace(session.qemu->qmp(), monotonic_ns);
  } else if (session.qemu) {
    logging.emplace(session.qemu->qmp());
  }

  // Recording: a thread drains the ring buffer into the trace file while the
  // observe loop reports; finish() stops it.
  std::optional<TrackerRecording> recording;
  if (!options.record.empty()) recording.emplace(tracker, options.record, layout.pages);

  nlohmann::json attached = {{"type", "attached"},
                             {"pid", options.pid},
                             {"comm", vmm.comm},
                             {"pages", layout.pages},
                             {"memslots", layout.slots.size()},
                             {"memslots_from_kvm", !layout.regions.empty()},
                             {"vcpus", vmm.vcpus},
                             {"dirty_ring_entries", vmm.ring_entries},
                             {"dirty_source", dirty_source_json_name(kind)},
                             {"pin_dir", tracker.pin_dir().string()}};
  if (logging) {
    attached["dirty_logging"] = {{"mechanism", "set-vcpu-dirty-limit"},
                                 {"limit_mb_s", QemuDirtyLogging::kNeverThrottles},
                                 {"cleared_stale_limit", logging->cleared_stale()}};
  }
  if (syncs) {
    attached["dirty_logging"] = {{"mechanism", "calc-dirty-rate"},
                                 {"mode", "dirty-bitmap"},
                                 {"calc_time_s", QemuBitmapSyncs::kCalcTimeS}};
  }
  if (options.json) {
    out << attached.dump() << '\n';
  } else {
    out << "attached to pid " << options.pid << " (" << vmm.comm << "): " << layout.pages << " pages";
    if (layout.regions.empty()) {
      out << " in " << layout.slots.size() << " memslot(s)";
    } else {
      out << " of shared RAM, memslots read from KVM";
    }
    out << ", " << vmm.vcpus << " vCPU(s), ";
    if (marks) {
      out << "no dirty ring (KVM's dirty bitmap, followed by its marks)";
    } else {
      out << "dirty ring " << vmm.ring_entries << " entries";
    }
    if (syncs) {
      out << "; dirty logging on and pages re-protected every " << QemuBitmapSyncs::kCalcTimeS
          << " s (calc-dirty-rate in a loop)";
    }
    if (logging) {
      out << "; dirty logging on (a vCPU dirty limit that never throttles"
          << (logging->cleared_stale() ? ", replacing one a killed engine left" : "") << ")";
    }
    out << "; maps pinned at " << tracker.pin_dir().string() << '\n';
  }
  out.flush();

  ObserveOptions oo;
  oo.seconds = options.seconds;
  oo.json = options.json;
  oo.interval_s = options.interval;
  if (syncs) oo.tick = [&] { syncs->tick(); };
  ObserveSummary summary = run_observe(tracker, oo, stop, out);
  if (syncs) syncs->stop();
  nlohmann::json recorded;
  if (recording) recorded = recording->finish();
  if (options.json) {
    auto j = summary_to_json(summary, static_cast<std::uint64_t>(options.pid));
    if (!recorded.is_null()) j["recorded"] = recorded;
    j["tracker_mode"] = tracker_mode_name(tracker.mode());
    if (syncs) j["reprotection_runs"] = syncs->runs_started();
    if (!layout.regions.empty()) {
      nlohmann::json slots = nlohmann::json::array();
      for (const auto& [key, s] : tracker.slots()) {
        nlohmann::json one{{"slot", key & 0xffff}, {"as", key >> 16}, {"userspace_addr", s.userspace_addr}};
        if (s.first_page == DPDC_NO_PAGE) {
          one["migrated"] = false;
        } else {
          one.update({{"migrated", true}, {"first_page", s.first_page}, {"pages", s.pages}});
        }
        slots.push_back(one);
      }
      j["memslots"] = slots;
    }
    out << j.dump() << '\n';
  } else {
    out << format_summary(summary, static_cast<std::uint64_t>(options.pid));
    if (!recorded.is_null()) {
      out << "  recorded        " << recorded["events"] << " events to " << recorded["file"].get<std::string>() << " ("
          << recorded["dropped"] << " dropped: the ring buffer was full)\n";
    }
  }
  out.flush();
  // An interrupted observe is still a complete observe: it was asked to run until stopped.
  return 0;
}

}  // namespace dpdc
