// dpdc-engine: the command line. Each subcommand parses its options here and
// hands a plain options struct to its module; errors leave as one line and
// an exit code (see dpdc/error.h).
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/attach.h"
#include "cli/migrate_command.h"
#include "dpdc/error.h"
#include "sim/heatmap.h"
#include "sim/simulate.h"
#include "stream/byte_io.h"
#include "stream/stream_inspect.h"
#include "trace/trace.h"

int main(int argc, char** argv) {
  CLI::App app{
      "dpdc-engine: live migration of KVM guests with Dirty Pages Delayed Copy.\n"
      "Exit codes: 0 ok, 1 failure, 2 bad usage, 3 unusable target process, 4 missing privileges,\n"
      "5 BPF unavailable.",
      "dpdc-engine"};
  app.set_version_flag("--version", "dpdc-engine 0.1.0");
  app.require_subcommand(1);

  dpdc::AttachOptions attach;
  auto* cmd = app.add_subcommand("attach",
                                 "Attach to a running VMM (QEMU or dpdc-vm): observe or record its dirty pages,\n"
                                 "or live-migrate it.\n"
                                 "Example: dpdc-engine attach --pid $(pidof dpdc-vm) --observe --seconds 10\n"
                                 "Example: dpdc-engine attach --pid $(pidof qemu-system-x86_64) --to tcp:HOST:4444");
  cmd->add_option("--pid", attach.pid,
                  "pid of the VMM process (QEMU with -accel kvm, with or without dirty-ring-size=N, or TCG;\n"
                  "or a dpdc-vm). QEMU's guest RAM must be in a shared memory backend, see README")
      ->required();
  cmd->add_option("--qmp", attach.qmp, "QMP unix socket of the VMM (default: taken from its -qmp option)");
  cmd->add_flag("--observe", attach.observe,
                "print the dirty rate and hot/warm/cold page counts every second, then a summary");
  cmd->add_option("--record", attach.record,
                  "record every dirty event into this trace file (for simulate and profile); prints the observe\n"
                  "output too. A TCG QEMU (or --dirty-source content) is recorded by content scans of its\n"
                  "shared guest RAM instead: one event per page found changed, at the scan's time. With --to\n"
                  "(QEMU): what the engine's dirty source saw until the stop, for replaying the migration in\n"
                  "simulate");
  cmd->add_option("--scan-interval", attach.interval_scan,
                  "content recording: seconds from one scan's start to the next (default 0.05; 0: back to back)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--record-buffer", attach.record_ring_mib, "MiB of kernel ring buffer for recording (default 16)")
      ->check(CLI::IsMember({1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u, 256u}));
  cmd->add_option("--seconds", attach.seconds, "observe for this many seconds (default: until Ctrl-C)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--interval", attach.interval, "seconds between samples (default 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dirty-source", attach.dirty_source,
                  "where dirty pages come from: auto (default: the one that fits the VMM), ring (the BPF\n"
                  "tracker on KVM's dirty ring: dpdc-vm, QEMU -accel kvm,dirty-ring-size=N), fault (QEMU/KVM\n"
                  "without a ring: the BPF tracker sees the first write after each re-protection, which the\n"
                  "engine keeps coming with calc-dirty-rate once a second; history for the policy, page\n"
                  "hashes for correctness), or content (page hashes of a QEMU's shared RAM alone: a TCG\n"
                  "QEMU, or to compare)")
      ->check(CLI::IsMember({"auto", "ring", "fault", "content"}));
  cmd->add_flag("--json", attach.json,
                "JSON output: observe/record print one object per sample and a summary; --to prints the report");
  dpdc::MigrateOptions migrate;
  auto* to_opt = cmd->add_option("--to", migrate.to,
                                 "live-migrate the guest to tcp:HOST:PORT, unix:PATH or file:PATH (a dpdc-vm or\n"
                                 "QEMU started with -incoming, or a file); the source stays paused afterwards");
  cmd->add_option("--policy", migrate.policy, "pre-copy policy for --to: dpdc (default), xen or qemu")
      ->check(CLI::IsMember({"dpdc", "xen", "qemu"}));
  cmd->add_option("--max-bandwidth", migrate.max_bandwidth_mb_s, "bandwidth cap for --to in MB/s while the guest runs (default: none; the stop-and-copy\n"
                  "round is uncapped, as in QEMU)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--downtime-limit", migrate.downtime_limit_ms, "downtime limit for --to in ms (default 300)");
  cmd->add_option("--warmup", migrate.warmup_s,
                  "--to: watch the guest's dirty pages for this many seconds before the first round, so that\n"
                  "the policy starts with a history (dpdc then holds back pages it already knows are hot from\n"
                  "round 1 on; default 0)")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--stall-timeout", migrate.stall_timeout_s,
                  "--to: give up when the destination takes no data for this many seconds (default 60;\n"
                  "0 waits for ever); the source guest runs again, as after any failure")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--progress", migrate.progress,
                  "--to: how progress shows while the migration runs: auto (a line on a terminal; the default),\n"
                  "line, json (one object per line on stderr: round, final, done, total, bytes, elapsed_ms,\n"
                  "mb_per_s, dirty_pending; a new round value means the previous round is all sent) or none")
      ->check(CLI::IsMember({"auto", "line", "json", "none"}))
      ->needs(to_opt);
  to_opt->excludes("--observe");

  std::string inspect_file;
  bool inspect_json = false;
  auto* inspect = app.add_subcommand("inspect",
                                     "Print the sections, RAM blocks and page counts (per block and per iteration)\n"
                                     "of a QEMU migration stream file, QEMU's own or dpdc's.\n"
                                     "Example: dpdc-engine inspect guest.mig --json");
  inspect->add_option("FILE", inspect_file, "the stream file (as written by migrate \"exec:cat > FILE\" or file:)")
      ->required();
  inspect->add_flag("--json", inspect_json, "print the report as JSON");

  dpdc::SimulateOptions sim;
  std::string sim_policy = "all";
  auto* simulate = app.add_subcommand(
      "simulate",
      "Replay a dirty trace through pre-copy policies on a modelled link and report what a live migration\n"
      "would have done: rounds, pages and bytes sent, total time, estimated downtime.\n"
      "Example: dpdc-engine simulate --trace hotcold.trace --policy all --bandwidth 100");
  simulate->add_option("--trace", sim.trace_path, "trace file (from attach --record or synth)")->required();
  simulate->add_option("--policy", sim_policy, "xen, qemu, dpdc, a comma-separated list, or all (default)");
  simulate->add_option("--bandwidth", sim.bandwidth_mb_s, "link bandwidth in MB/s (10^6 bytes; default 100)")
      ->check(CLI::PositiveNumber);
  simulate->add_option("--downtime-limit", sim.downtime_limit_ms, "downtime limit in ms (default 300)");
  simulate->add_option("--start", sim.start_s, "start the migration this many seconds into the trace (default 0)")
      ->check(CLI::NonNegativeNumber);
  simulate->add_flag("--json", sim.json, "print the reports as JSON");

  dpdc::SynthCommand synth;
  auto* synth_cmd = app.add_subcommand(
      "synth",
      "Write a synthetic dirty trace of a dpdc-vm workload (KVM's one-event-per-reprotection rule applied).\n"
      "Example: dpdc-engine synth --workload hotcold,hot=10,writes=90 --pages 65536 --seconds 20 --out h.trace");
  synth_cmd->add_option("--workload", synth.synth.workload, "NAME[,key=value,...] as dpdc-vm --workload")
      ->required();
  synth_cmd->add_option("--pages", synth.synth.pages, "guest pages (default 65536 = 256 MiB)");
  synth_cmd->add_option("--seconds", synth.synth.seconds, "trace length (default 10)");
  synth_cmd->add_option("--writes-per-s", synth.synth.writes_per_s, "guest writes per second (default 200000)");
  synth_cmd->add_option("--reap-ms", synth.synth.reap_ms, "dirty-ring reap interval of the VMM (default 100)");
  synth_cmd->add_option("--seed", synth.synth.seed, "random seed (default 1)");
  synth_cmd->add_option("--out", synth.out_path, "trace file to write")->required();

  std::string profile_trace, profile_out;
  dpdc::HeatmapOptions heat;
  auto* profile = app.add_subcommand(
      "profile",
      "Draw a recorded trace as a heatmap: page groups against time, coloured by dirty frequency. Over it,\n"
      "the pages DPDC held back when the trace is migrated as simulate --policy dpdc does it (blue hatch:\n"
      "kept for the stop-and-copy round; teal: deferred one round), the rounds and the stop.\n"
      "Record a trace first with attach --record (or make one with synth).\n"
      "Example: dpdc-engine profile --trace guest.trace --out guest.svg --start 10 --bandwidth 50");
  profile->add_option("--trace", profile_trace, "trace file (from attach --record or synth)")->required();
  profile->add_option("--out", profile_out, "SVG file to write")->required();
  profile->add_option("--start", heat.start_s,
                      "start the simulated migration this many seconds into the trace; what comes before is the\n"
                      "history DPDC predicts from (default: the middle of the trace)");
  profile->add_option("--bandwidth", heat.bandwidth_mb_s,
                      "simulated link bandwidth in MB/s (10^6 bytes; 0.1 to 1000000, default 100, as simulate)");
  profile->add_option("--downtime-limit", heat.downtime_limit_ms,
                      "downtime limit in ms (1 to 3600000, default 300, as simulate)");
  profile->add_option("--bins", heat.time_bins, "time columns (1 to 10000, default 120)");
  profile->add_option("--groups", heat.page_groups, "page-group rows (1 to 100000, default 256)");
  profile->add_option("--title", heat.title, "title of the picture (default: the trace file's name)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dpdc-engine: " << e.what() << "; see dpdc-engine --help\n";
    return static_cast<int>(dpdc::ErrorKind::Usage);
  }

  try {
    if (cmd->parsed() && !migrate.to.empty()) {
      migrate.pid = attach.pid;
      migrate.qmp = attach.qmp;
      migrate.json = attach.json;
      migrate.record = attach.record;
      migrate.record_ring_mib = attach.record_ring_mib;
      migrate.dirty_source = attach.dirty_source;
      return dpdc::run_migrate(migrate, std::cout);
    }
    if (cmd->parsed()) return dpdc::run_attach(attach, std::cout);
    if (inspect->parsed()) return dpdc::stream::run_inspect(inspect_file, inspect_json, std::cout);
    if (simulate->parsed()) {
      sim.policies = sim_policy == "all" ? std::vector<std::string>{"xen", "qemu", "dpdc"}
                                         : CLI::detail::split(sim_policy, ',');
      return dpdc::run_simulate(sim, std::cout);
    }
    if (synth_cmd->parsed()) return dpdc::run_synth(synth, std::cout);
    if (profile->parsed()) {
      dpdc::validate_heatmap_options(heat);  // before reading a large trace
      if (heat.title.empty()) heat.title = profile_trace;
      dpdc::write_heatmap_svg(dpdc::read_trace_file(profile_trace), heat, profile_out);
      std::cout << "wrote " << profile_out << '\n';
      return 0;
    }
  } catch (const dpdc::stream::StreamError& e) {
    std::cerr << "dpdc-engine: " << inspect_file << ": " << e.what() << '\n';
    return 1;
  } catch (const dpdc::Error& e) {
    std::cerr << "dpdc-engine: " << e.what() << '\n';
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "dpdc-engine: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
