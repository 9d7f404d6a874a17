// Holds a pinned, attached tracker until SIGINT/SIGTERM, like an engine
// would; the lifecycle tests signal or kill it and look at what is left.
// Usage: tracker_holder PID PAGES PIN_ROOT
#include <cstdlib>
#include <iostream>

#include "dpdc/error.h"
#include "live/stop_flag.h"
#include "loader/dirty_track_loader.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: tracker_holder PID PAGES PIN_ROOT\n";
    return 2;
  }
  try {
    dpdc::StopFlag stop;
    dpdc::TrackerOptions o;
    o.vmm_pid = std::atoi(argv[1]);
    o.pages = static_cast<std::uint32_t>(std::strtoul(argv[2], nullptr, 10));
    o.pin_root = argv[3];
    dpdc::DirtyTracker tracker(o);
    std::cout << "ready " << tracker.pin_dir().string() << std::endl;
    while (!stop.sleep_for(std::chrono::seconds(1))) {
    }
    std::cout << "stopping" << std::endl;
  } catch (const dpdc::Error& e) {
    std::cerr << "tracker_holder: " << e.what() << '\n';
    return e.exit_code();
  }
  return 0;
}
