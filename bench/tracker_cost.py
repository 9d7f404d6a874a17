#!/usr/bin/env python3
"""The BPF tracker's own cost per event, as the kernel measures it: with
kernel.bpf_stats_enabled=1 the kernel adds each program's run time and run
count (bpftool prog show: run_time_ns, run_cnt). A dpdc-vm guest runs a
workload, `dpdc-engine attach --observe` holds the tracker attached, and the
programs' figures are read while it is. bpf_stats_enabled is put back as it
was. Needs /dev/kvm and root (the VM runner has both):

  tests/vm/run.sh --kernel 6.12 -- bench/tracker_cost.py [--workload hotcold] [--seconds 10]

Prints, per dpdc program that ran: runs, ns per run; and the tracker's map
memory per guest page, for 16 GiB and 1 TiB guests.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_side_by_side import BIN  # noqa: E402

STATS = "/proc/sys/kernel/bpf_stats_enabled"
# struct dpdc_page (include/dpdc/dirty_track.h): last_ns, prev_ns, record, count.
HISTORY_BYTES = 32


def dpdc_programs():
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True, check=True)
    return {p["name"]: p for p in json.loads(out.stdout) if p.get("name", "").startswith("dpdc_")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="hotcold", help="dpdc-vm workload (default hotcold)")
    ap.add_argument("--memory", default="1G", help="guest RAM (default 1G)")
    ap.add_argument("--seconds", type=float, default=10, help="how long the tracker counts (default 10)")
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("tracker_cost: needs /dev/kvm; run it inside tests/vm/run.sh")
    with open(STATS) as f:
        was = f.read().strip()
    with tempfile.TemporaryDirectory(prefix="dpdc-tracker-cost.") as tmp:
        vm = subprocess.Popen([os.path.join(BIN, "dpdc-vm"), "-m", args.memory, "--workload", args.workload,
                               "--qmp", f"unix:{tmp}/q,server=on,wait=off"])
        engine = None
        try:
            with open(STATS, "w") as f:
                f.write("1")
            time.sleep(1)
            engine = subprocess.Popen([os.path.join(BIN, "dpdc-engine"), "attach", "--pid", str(vm.pid), "--observe",
                                       "--seconds", str(args.seconds + 4), "--json"],
                                      stdout=subprocess.DEVNULL)
            time.sleep(2)  # attached and counting
            first = dpdc_programs()
            time.sleep(args.seconds)
            last = dpdc_programs()
        finally:
            with open(STATS, "w") as f:
                f.write(was)
            if engine:
                engine.wait(timeout=60)
            vm.kill()
            vm.wait()
    if not last:
        sys.exit("tracker_cost: no dpdc program was loaded while the engine observed")
    print(f"workload {args.workload}, {args.memory} guest, {args.seconds:g} s counted")
    print(f"{'program':<16} {'runs':>10} {'ns/run':>8}")
    for name, p in sorted(last.items()):
        runs = p.get("run_cnt", 0) - first.get(name, {}).get("run_cnt", 0)
        ns = p.get("run_time_ns", 0) - first.get(name, {}).get("run_time_ns", 0)
        if runs:
            print(f"{name:<16} {runs:>10} {ns / runs:>8.0f}")
    per_page = HISTORY_BYTES + 1 / 8
    for label, pages in (("16 GiB", 16 << 18), ("1 TiB", 1 << 28)):
        print(f"history per guest page {per_page:g} bytes: {label} guest {pages * per_page / (1 << 20):,.1f} MiB")


if __name__ == "__main__":
    main()
