#include "loader_machine.h"

#include "incoming_loader.h"
#include "options.h"

namespace dpdc::fuzz {

vm::MachineState loader_machine() {
  vm::Config cfg;
  cfg.ram_size = kLoaderRamBytes;
  cfg.vcpus = kLoaderVcpus;
  return vm::local_machine_state(cfg);
}

}  // namespace dpdc::fuzz
