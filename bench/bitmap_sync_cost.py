#!/usr/bin/env python3
"""What following a QEMU's dirty bitmap costs the guest.

`attach` on a QEMU/KVM without a dirty ring keeps QEMU re-protecting its
guest pages with `calc-dirty-rate mode=dirty-bitmap` once a second, and
counts the first write after each re-protection with a BPF program on KVM's
mark_page_dirty_in_slot (docs/qemu.md, "Without a dirty ring"). This
measures the guest's own progress (dpdc-guest's `rounds` counter) in windows
that take turns, in one QEMU, one run, so that the ratios are not the
machine's noise:
  off     nothing attached, no dirty logging;
  once    logging on by one long `calc-dirty-rate` run (every page
          re-protected once, at the start): what logging costs by itself;
  engine  `dpdc-engine attach --observe` (fault mode): logging on and every
          page re-protected each second, the mark program counting.
engine/once is what re-protecting every second (and the program) adds to
logging; engine/off is what a guest pays while the engine is attached.

  bench/bitmap_sync_cost.py [--windows 3] [--seconds 5] [--workload W] [--json]

Needs QEMU with KVM (a host /dev/kvm, or inside tests/vm/run.sh) and root
for the engine's BPF programs.
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, default=3, help="windows per state (default 3)")
    ap.add_argument("--seconds", type=float, default=5, help="seconds per window (default 5)")
    ap.add_argument("--workload", default="seq,pages=4096", help="dpdc-guest workload (default seq,pages=4096)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    marks = []
    with tempfile.TemporaryDirectory(prefix="dpdc-bitmap-") as tmp:
        qemu = subprocess.Popen(["qemu-system-x86_64", "-display", "none", "-nodefaults",
                                 "-accel", "kvm", "-cpu", "qemu64", "-M", "pc",
                                 "-object", "memory-backend-memfd,id=pc.ram,size=64M,share=on",
                                 "-M", "pc,memory-backend=pc.ram", "-m", "64M",
                                 "-kernel", os.path.join(BIN, "dpdc-guest.img"), "-append", args.workload,
                                 "-qmp", f"unix:{tmp}/qmp.sock,server=on,wait=off",
                                 "-qmp", f"unix:{tmp}/engine.sock,server=on,wait=off"])
        try:
            q = Qmp(f"{tmp}/qmp.sock")
            deadline = time.time() + 120
            while guest_rounds(q, tmp)[0] != 2:
                if time.time() > deadline:
                    raise RuntimeError("the guest did not start")
                time.sleep(0.1)
            rates = {"off": [], "once": [], "engine": []}
            for w in range(3 * args.windows):
                state = ("off", "once", "engine")[w % 3]
                engine = None
                if state == "once":
                    q("calc-dirty-rate", **{"calc-time": int(args.seconds) + 2, "mode": "dirty-bitmap"})
                if state == "engine":
                    engine = subprocess.Popen([os.path.join(BIN, "dpdc-engine"), "attach", "--pid", str(qemu.pid),
                                               "--qmp", f"{tmp}/engine.sock", "--observe", "--json",
                                               "--seconds", str(args.seconds + 1.5)],
                                              stdout=subprocess.PIPE, text=True)
                time.sleep(0.5)  # logging settles (first faults after it began)
                r0, t0 = guest_rounds(q, tmp)[1], time.time()
                time.sleep(args.seconds)
                r1, t1 = guest_rounds(q, tmp)[1], time.time()
                if engine:
                    out, _ = engine.communicate(timeout=60)
                    if engine.returncode != 0:
                        raise RuntimeError(f"dpdc-engine exited {engine.returncode}")
                    summary = [json.loads(l) for l in out.splitlines() if '"summary"' in l][-1]
                    marks.append(summary["mean_pages_per_s"])
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
              "engine_marks_per_s": marks,
              "engine_vs_off": mean["engine"] / mean["off"] if mean["off"] else None,
              "engine_vs_once": mean["engine"] / mean["once"] if mean["once"] else None}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.workload}: guest rounds/s: logging off {mean['off']:.2f}, on by one calc-dirty-rate run "
              f"{mean['once']:.2f}, engine attached {mean['engine']:.2f}; engine/once "
              f"{result['engine_vs_once']:.3f}x, engine/off {result['engine_vs_off']:.3f}x; marks/s "
              + " ".join(f"{m:.0f}" for m in marks))
        for k, v in rates.items():
            print(f"  {k:6s} " + " ".join(f"{x:.2f}" for x in v))


if __name__ == "__main__":
    main()
