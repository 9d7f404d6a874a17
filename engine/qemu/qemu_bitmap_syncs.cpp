#include "qemu/qemu_bitmap_syncs.h"

#include <string>
#include <thread>

#include "dpdc/error.h"

namespace dpdc {

namespace {

std::string measurement_status(QmpClient& qmp) { return qmp.execute("query-dirty-rate").value("status", ""); }

}  // namespace

QemuBitmapSyncs::QemuBitmapSyncs(QmpClient& qmp, std::function<std::uint64_t()> now_ns)
    : qmp_(qmp), now_ns_(std::move(now_ns)) {
  try {
    const std::uint64_t give_up = now_ns_() + std::uint64_t{kWaitForOthersS} * 1'000'000'000;
    while (measurement_status(qmp_) == "measuring") {
      if (now_ns_() > give_up) {
        throw Error(ErrorKind::Target, "QEMU has been measuring its dirty rate for over " +
                                           std::to_string(kWaitForOthersS) +
                                           " s (query-dirty-rate); let it finish, then attach again");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    start_run();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Target) throw;
    throw Error(ErrorKind::Target, std::string("this QEMU cannot keep re-protecting its dirty bitmap for the engine (") +
                                       e.what() + "); it needs QEMU 7.1 or later (calc-dirty-rate mode=dirty-bitmap)");
  }
}

QemuBitmapSyncs::~QemuBitmapSyncs() { finish(); }

void QemuBitmapSyncs::finish() noexcept {
  stopped_ = true;
  if (!running_ || failed_) return;
  try {
    const std::uint64_t give_up = run_start_ns_ + std::uint64_t{kCalcTimeS + 2} * 1'000'000'000;
    while (measurement_status(qmp_) == "measuring" && now_ns_() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    running_ = false;
  } catch (...) {
    failed_ = true;  // QEMU gone or its socket closed: nothing is left to wait for
  }
}

void QemuBitmapSyncs::start_run() {
  qmp_.execute("calc-dirty-rate", {{"calc-time", kCalcTimeS}, {"mode", "dirty-bitmap"}});
  run_start_ns_ = now_ns_();
  if (started_ == 0) first_start_ns_ = run_start_ns_;
  ++started_;
  running_ = true;
}

void QemuBitmapSyncs::tick() {
  if (failed_ || (!running_ && stopped_)) return;
  try {
    if (running_) {
      if (now_ns_() - run_start_ns_ < std::uint64_t{kCalcTimeS} * 1'000'000'000) return;
      if (measurement_status(qmp_) == "measuring") return;
      running_ = false;
      ++completed_;
      last_done_ns_ = now_ns_();
    }
    if (!stopped_) start_run();
  } catch (const Error&) {
    failed_ = true;
  }
}

double QemuBitmapSyncs::runs_per_s() const noexcept {
  if (completed_ == 0 || last_done_ns_ <= first_start_ns_) return 0;
  return static_cast<double>(completed_) * 1e9 / static_cast<double>(last_done_ns_ - first_start_ns_);
}

}  // namespace dpdc
