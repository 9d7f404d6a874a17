#!/usr/bin/env python3
"""What the engine's way of keeping KVM's dirty logging on costs the guest.

`attach` on a QEMU/KVM with a dirty ring sets a vCPU dirty limit that never
throttles (docs/qemu.md, "Dirty logging while attached"). This measures the
guest's own progress (dpdc-guest's `rounds` counter, a seq workload that
writes every page of its area each round) in windows that take turns, in
one QEMU, one run, so that the ratios are not the machine's noise:
  off    no dirty logging;
  calc   logging on by QEMU's own `calc-dirty-rate` (dirty-ring mode): what
         dirty logging costs by itself (a write fault per page per reset);
  limit  logging on by the engine's dirty limit.
limit/calc is what the engine's mechanism adds to logging (it must be 1);
limit/off is what a guest pays while the engine is attached.

  bench/dirty_limit_cost.py [--windows 4] [--seconds 5] [--workload W] [--json]

Needs QEMU with KVM (a host /dev/kvm, or inside tests/vm/run.sh).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_side_by_side import BIN, Qmp, guest_rounds  # noqa: E402

NEVER_THROTTLES = 1_000_003  # MB/s, the engine's value (engine/qemu/qemu_dirty_logging.h)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, default=4, help="windows per state (default 4)")
    ap.add_argument("--seconds", type=float, default=5, help="seconds per window (default 5)")
    ap.add_argument("--workload", default="seq,pages=4096", help="dpdc-guest workload (default seq,pages=4096)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dpdc-limit-") as tmp:
        qemu = subprocess.Popen(["qemu-system-x86_64", "-display", "none", "-nodefaults",
                                 "-accel", "kvm,dirty-ring-size=4096", "-cpu", "qemu64", "-M", "pc", "-m", "64M",
                                 "-kernel", os.path.join(BIN, "dpdc-guest.img"), "-append", args.workload,
                                 "-qmp", f"unix:{tmp}/qmp.sock,server=on,wait=off"])
        try:
            q = Qmp(f"{tmp}/qmp.sock")
            deadline = time.time() + 120
            while guest_rounds(q, tmp)[0] != 2:
                if time.time() > deadline:
                    raise RuntimeError("the guest did not start")
                time.sleep(0.1)
            rates = {"off": [], "calc": [], "limit": []}
            for w in range(3 * args.windows):
                state = ("off", "calc", "limit")[w % 3]
                if state == "limit":
                    q("set-vcpu-dirty-limit", **{"dirty-rate": NEVER_THROTTLES})
                if state == "calc":
                    q("calc-dirty-rate", **{"calc-time": int(args.seconds) + 2, "mode": "dirty-ring"})
                time.sleep(0.5)  # logging settles (first faults after it began)
                r0, t0 = guest_rounds(q, tmp)[1], time.time()
                time.sleep(args.seconds)
                r1, t1 = guest_rounds(q, tmp)[1], time.time()
                if state == "limit":
                    q("cancel-vcpu-dirty-limit")
                if state == "calc":
                    while q("query-dirty-rate")["status"] == "measuring":
                        time.sleep(0.1)
                rates[state].append((r1 - r0) / (t1 - t0))
            q("quit")
        finally:
            try:
                qemu.wait(timeout=10)
            except subprocess.TimeoutExpired:
                qemu.kill()
    mean = {k: sum(v) / len(v) for k, v in rates.items()}
    result = {"workload": args.workload, "rounds_per_s": rates, "mean": mean,
              "limit_vs_off": mean["limit"] / mean["off"] if mean["off"] else None,
              "limit_vs_calc": mean["limit"] / mean["calc"] if mean["calc"] else None}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.workload}: guest rounds/s: logging off {mean['off']:.2f}, on by calc-dirty-rate "
              f"{mean['calc']:.2f}, on by the engine's limit {mean['limit']:.2f}; limit/calc "
              f"{result['limit_vs_calc']:.3f}x, limit/off {result['limit_vs_off']:.3f}x")
        for k, v in rates.items():
            print(f"  {k:5s} " + " ".join(f"{x:.2f}" for x in v))


if __name__ == "__main__":
    main()
