#include "qemu/qemu_dirty_logging.h"

#include <string>

#include "dpdc/error.h"

namespace dpdc {

namespace {

// Whether some vCPU has a dirty limit set, and whether all that are set are ours.
struct Limits {
  bool any = false;
  bool all_ours = true;
};

Limits current_limits(QmpClient& qmp) {
  Limits l;
  for (const auto& v : qmp.execute("query-vcpu-dirty-limit")) {
    l.any = true;
    if (v.value("limit-rate", std::uint64_t{0}) != QemuDirtyLogging::kNeverThrottles) l.all_ours = false;
  }
  return l;
}

// Whether another user of QEMU's dirty log may hold logging on: a
// migration that has not ended, or a dirty-rate measurement under way (its
// page-sampling mode logs nothing, but counts here: the answer may only err
// towards waiting).
bool others_log(QmpClient& qmp) {
  const std::string mig = qmp.execute("query-migrate").value("status", "none");
  if (mig != "none" && mig != "completed" && mig != "failed" && mig != "cancelled") return true;
  try {
    return qmp.execute("query-dirty-rate").value("status", "") == "measuring";
  } catch (const Error&) {
    return true;  // cannot tell
  }
}

}  // namespace

QemuDirtyLogging::QemuDirtyLogging(QmpClient& qmp) : qmp_(qmp) {
  Limits before;
  try {
    before = current_limits(qmp_);
  } catch (const Error& e) {
    throw Error(ErrorKind::Target, std::string("this QEMU cannot keep KVM's dirty logging on for the engine (") +
                                       e.what() + "); it needs QEMU 7.1 or later with -accel kvm,dirty-ring-size=N");
  }
  if (before.any && !before.all_ours) {
    throw Error(ErrorKind::Target, "QEMU already has a vCPU dirty limit set (query-vcpu-dirty-limit); the engine "
                                   "uses one of its own: cancel it first (QMP cancel-vcpu-dirty-limit)");
  }
  if (before.any) {  // left by an engine that was killed
    qmp_.execute("cancel-vcpu-dirty-limit");
    cleared_stale_ = true;
  }
  began_logging_ = !others_log(qmp_);
  try {
    qmp_.execute("set-vcpu-dirty-limit", {{"dirty-rate", kNeverThrottles}});
  } catch (const Error& e) {
    throw Error(ErrorKind::Target, std::string("QEMU would not turn KVM's dirty logging on (") + e.what() +
                                       "); start it with -accel kvm,dirty-ring-size=4096");
  }
}

QemuDirtyLogging::~QemuDirtyLogging() {
  try {
    qmp_.execute("cancel-vcpu-dirty-limit");
  } catch (...) {
    // QEMU gone or its socket closed: nothing is left to restore.
  }
}

}  // namespace dpdc
