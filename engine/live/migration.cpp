#include "live/migration.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "dpdc/clock.h"
#include "dpdc/error.h"
#include "live/stop_flag.h"
#include "live/transport_sink.h"

namespace dpdc {

namespace {

// Stops the guest, then lets the last round use the whole link.
class StopLiftsCap final : public GuestControl {
 public:
  StopLiftsCap(GuestControl& guest, Transport& transport) : guest_(guest), transport_(transport) {}
  void stop() override {
    guest_.stop();
    transport_.lift_cap();
  }
  bool stopped() const override { return guest_.stopped(); }

 private:
  GuestControl& guest_;
  Transport& transport_;
};

// The dirty source watches the guest before round 1: a content source scans
// every 50 ms (its history has scan granularity), the ring tracker's
// history grows in the kernel whatever the engine does. What the scans find
// is dropped: round 1 sends every page anyway.
void watch_before_round_one(DirtySource& source, std::size_t pages, const MigrationSetup& setup) {
  Bitmap scratch(pages);
  const std::uint64_t end = monotonic_ns() + setup.warmup_ns;
  for (std::uint64_t now = monotonic_ns(); now < end; now = monotonic_ns()) {
    if (setup.interrupt && setup.interrupt->raised()) {
      throw Error(ErrorKind::Interrupted, "interrupted before the first round");
    }
    if (setup.while_running) setup.while_running();
    source.collect(scratch, Scan::Complete);
    scratch.clear();
    const std::uint64_t nap = std::min<std::uint64_t>(50'000'000, end - std::min(end, monotonic_ns()));
    if (setup.interrupt) {
      setup.interrupt->sleep_for(std::chrono::nanoseconds(nap));
    } else {
      std::this_thread::sleep_for(std::chrono::nanoseconds(nap));
    }
  }
}

}  // namespace

MigrationResult run_migration(DirtySource& source, GuestControl& guest, const MigrationSetup& setup,
                              Transport& transport, Policy& policy, DeviceStateSource* devices) {
  if (setup.tracked_block >= setup.blocks.size() || setup.blocks[setup.tracked_block].used_length != setup.ram.size()) {
    throw Error(ErrorKind::Runtime, "the tracked RAM block does not describe the traced guest RAM");
  }
  if (setup.warmup_ns > 0) watch_before_round_one(source, setup.ram.size() / DPDC_PAGE_SIZE, setup);
  TransportSink sink(transport);
  stream::StreamWriter writer(sink, 1 << 20);
  writer.header();
  writer.configuration(setup.machine);
  writer.ram_setup(setup.blocks);

  LiveWorldOptions lo;
  lo.interrupt = setup.interrupt;
  lo.block = setup.tracked_block;
  lo.ram_fd = setup.ram_fd;
  lo.devices = devices;
  lo.vmm_alive = setup.vmm_alive;
  lo.while_running = setup.while_running;
  // Before the stop, the destination catches up with what is already on its
  // way: a destination still loading earlier rounds when the guest stops
  // adds that time to the downtime. The guest runs on meanwhile; what it
  // dirties goes into the last round.
  lo.before_stop = [&] {
    transport.drain(5'000'000'000ull);
    if (setup.before_stop) setup.before_stop();
  };
  StopLiftsCap stop_then_uncap(guest, transport);
  LiveWorld world(source, setup.ram, writer, stop_then_uncap, lo);
  MigrationResult result;
  PrecopyOptions po;
  po.progress = setup.progress;
  result.report = run_precopy(world, policy, po);

  const std::uint64_t t0 = monotonic_ns();
  if (devices) devices->write_sections(writer);
  // The point of no return: once the source is told the migration is
  // complete, a destination that gets the rest runs the guest. A Ctrl-C
  // that came while the device state was on its way still keeps the source.
  if (setup.interrupt && setup.interrupt->raised()) {
    throw Error(ErrorKind::Interrupted, "interrupted during the device state, before the migration completed");
  }
  guest.complete();
  writer.eof_and_vmdesc();
  const std::uint64_t t1 = monotonic_ns();
  transport.flush();
  result.device_state_ns = t1 - t0;
  result.flush_ns = monotonic_ns() - t1;
  result.wire_bytes = transport.bytes_completed();
  return result;
}

nlohmann::json switchover_json(const MigrationResult& result) {
  const StopPhases& p = result.report.stop_phases;
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  return {{"stop_ms", ms(p.stop)},
          {"known_pages_ms", ms(p.known_pages)},
          {"scan_wait_ms", ms(p.scan_wait)},
          {"found_pages_ms", ms(p.found_pages)},
          {"device_state_ms", ms(result.device_state_ns)},
          {"flush_ms", ms(result.flush_ns)},
          {"total_ms", ms(p.stop + p.known_pages + p.scan_wait + p.found_pages + result.device_state_ns +
                          result.flush_ns)}};
}

}  // namespace dpdc
