#include "migration.h"

#include "dpdc/error.h"
#include "transport_sink.h"

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

 private:
  GuestControl& guest_;
  Transport& transport_;
};

}  // namespace

MigrationResult run_migration(DirtySource& source, GuestControl& guest, const MigrationSetup& setup,
                              Transport& transport, Policy& policy, DeviceStateSource* devices) {
  if (setup.tracked_block >= setup.blocks.size() || setup.blocks[setup.tracked_block].used_length != setup.ram.size()) {
    throw Error(ErrorKind::Runtime, "the tracked RAM block does not describe the traced guest RAM");
  }
  TransportSink sink(transport);
  stream::StreamWriter writer(sink, 1 << 20);
  writer.header();
  writer.configuration(setup.machine);
  writer.ram_setup(setup.blocks);

  LiveWorldOptions lo;
  lo.interrupt = setup.interrupt;
  lo.block = setup.tracked_block;
  lo.devices = devices;
  // Before the stop, the destination catches up with what is already on its
  // way: a destination still loading earlier rounds when the guest stops
  // adds that time to the downtime. The guest runs on meanwhile; what it
  // dirties goes into the last round.
  lo.before_stop = [&] { transport.drain(5'000'000'000ull); };
  StopLiftsCap stop_then_uncap(guest, transport);
  LiveWorld world(source, setup.ram, writer, stop_then_uncap, lo);
  MigrationResult result;
  PrecopyOptions po;
  po.progress = setup.progress;
  result.report = run_precopy(world, policy, po);

  if (devices) devices->write_sections(writer);
  writer.eof_and_vmdesc();
  transport.flush();
  result.wire_bytes = transport.bytes_completed();
  return result;
}

}  // namespace dpdc
