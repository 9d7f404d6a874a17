#include "qemu/qemu_record.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "base/bitmap.h"
#include "dpdc/clock.h"
#include "dpdc/error.h"
#include "live/stop_flag.h"
#include "qemu/qemu_source.h"
#include "trace/recorder.h"
#include "track/content_dirty_source.h"

namespace dpdc {

int record_qemu_by_content(const QemuRecordOptions& options, const VmmProcess& process, std::ostream& out) {
  if (options.record.empty()) {
    throw Error(ErrorKind::Target, "--observe needs the KVM dirty ring tracker, and QEMU pid " +
                                       std::to_string(process.pid) + " is tracked by page content here (TCG, or "
                                       "--dirty-source content); record its dirty pages with --record FILE instead, "
                                       "or start it with -accel kvm,dirty-ring-size=4096");
  }
  QemuSource qemu(process, options.qmp);
  const auto ram = qemu.shared_ram();
  const std::uint64_t pages = ram.size() / DPDC_PAGE_SIZE;
  StopFlag stop;
  ContentDirtySource source(ram, monotonic_ns, qemu.backing_fd());
  Bitmap ever(pages);  // collect ORs in: every page dirtied during the recording
  source.collect(ever, Scan::Complete);  // the baseline: no events
  const std::uint64_t start = monotonic_ns();
  TraceRecorder recorder(options.record, pages, start);
  // The same events a migration's --record gets: one per change, at its scan's time.
  source.on_change([&](std::uint64_t page, std::uint64_t t) {
    recorder.add(dpdc_event{t, static_cast<std::uint32_t>(page), 0});
  });
  if (options.json) {
    out << nlohmann::json{{"type", "attached"},     {"pid", options.pid},       {"comm", process.comm},
                          {"pages", pages},         {"block", qemu.blocks()[qemu.shared_block()].idstr},
                          {"dirty_source", "page-content"}}
               .dump()
        << '\n';
  } else {
    out << "attached to pid " << options.pid << " (" << process.comm << "): " << pages << " pages of '"
        << qemu.blocks()[qemu.shared_block()].idstr << "', recording dirty pages by content scans to "
        << options.record << '\n';
  }
  out.flush();

  const auto interval = std::chrono::nanoseconds(static_cast<std::int64_t>(options.interval_scan * 1e9));
  const std::uint64_t end = options.seconds > 0 ? start + static_cast<std::uint64_t>(options.seconds * 1e9) : 0;
  for (;;) {
    const std::uint64_t t = monotonic_ns();
    if ((end != 0 && t >= end) || stop.raised()) break;
    source.collect(ever, Scan::Complete);
    const std::uint64_t next = t + static_cast<std::uint64_t>(interval.count());
    const std::uint64_t now = monotonic_ns();
    if (next > now && stop.sleep_for(std::chrono::nanoseconds(next - now))) break;
  }
  const std::uint64_t finished = monotonic_ns();
  recorder.finish(finished);
  const double seconds = static_cast<double>(finished - start) / 1e9;
  const std::uint64_t scans = source.scans() - 1;  // not the baseline
  if (options.json) {
    out << nlohmann::json{{"type", "summary"},
                          {"pid", options.pid},
                          {"seconds", seconds},
                          {"scans", scans},
                          {"pages_dirtied", ever.count()},
                          {"recorded", {{"file", recorder.path()}, {"events", recorder.events()}, {"dropped", 0}}}}
               .dump()
        << '\n';
  } else {
    out << "recorded " << recorder.events() << " events (" << ever.count() << " distinct pages) in " << scans
        << " scans over " << seconds << " s to " << recorder.path() << '\n';
  }
  return 0;
}

}  // namespace dpdc
