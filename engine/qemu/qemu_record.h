#pragma once
// `attach --pid <qemu> --record FILE` for a QEMU the BPF tracker cannot
// follow (no KVM dirty ring: TCG, or KVM without dirty-ring-size): the
// guest's shared RAM is scanned by page content (content_dirty_source.h),
// back to back or every --interval seconds, and every page found changed is
// one event stamped with its scan's time. The trace has the same format as
// the tracker's (trace/trace.h), so simulate and profile take it; its
// times have scan granularity, and a page written several times between two
// scans is one event.
#include <sys/types.h>

#include <ostream>
#include <string>

#include "live/proc_inspect.h"

namespace dpdc {

// attach's options that a recording by content uses (cli/attach.h).
struct QemuRecordOptions {
  pid_t pid = 0;
  std::string qmp;              // empty: found from QEMU's command line
  std::string record;           // the trace file; empty: refused (observe needs the tracker)
  double seconds = 0;           // 0 = until SIGINT/SIGTERM
  double interval_scan = 0.05;  // seconds between content scans
  bool json = false;
};

int record_qemu_by_content(const QemuRecordOptions& options, const VmmProcess& process, std::ostream& out);

}  // namespace dpdc
