#include "migration.h"

#include "dpdc/error.h"
#include "transport_sink.h"

namespace dpdc {

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
  LiveWorld world(source, setup.ram, writer, guest, lo);
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
