#pragma once
// `attach --pid <qemu> --record FILE` for a QEMU the BPF tracker cannot
// follow (no KVM dirty ring: TCG, or KVM without dirty-ring-size): the
// guest's shared RAM is scanned by page content (content_dirty_source.h),
// back to back or every --interval seconds, and every page found changed is
// one event stamped with its scan's time. The trace has the same format as
// the tracker's (engine/trace.h), so simulate and profile take it; its
// times have scan granularity, and a page written several times between two
// scans is one event.
#include <ostream>

#include "attach.h"
#include "proc_inspect.h"

namespace dpdc {

int record_qemu_by_content(const AttachOptions& options, const VmmProcess& process, std::ostream& out);

}  // namespace dpdc
