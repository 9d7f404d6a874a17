#!/usr/bin/env python3
"""The same QEMU guest, the same workload, the same bandwidth cap, migrated by
QEMU's own `migrate` and by `dpdc-engine attach --to` with each policy, in one
run. Source and destination are unmodified qemu-system-x86_64 (TCG, or KVM
with a dirty ring: --accel kvm), the guest is build/bin/dpdc-guest.img.

A method is qemu-migrate or an engine policy (xen, qemu, dpdc), the policy
optionally with the engine's dirty source: dpdc:ring (the KVM dirty ring),
dpdc:fault (KVM's dirty bitmap, QEMU's default: the source QEMU then runs
without dirty-ring-size, --accel kvm only), dpdc:content (page-content
scans); a bare policy leaves the choice to the engine (--dirty-source auto). Each engine row shows the source the engine
reports it used and the switchover's scan wait: how long the stop-time
content scan outlasted the sending.

Every figure is measured the same way for every method:
  - bytes: what the destination received (counted by a relay in this script
    whose socket buffers are kept small, so that a sender still sees how far
    behind the destination is),
  - rounds: QEMU's dirty-sync-count / the engine's rounds,
  - total time: from the migration command to the destination's RESUME event,
  - downtime: the source's STOP event to the destination's RESUME event
    (QMP event timestamps, one clock: both QEMUs run on this machine).

QEMU's own migration may not converge at a low cap; after --limit seconds it
is cancelled and its row says so (bytes and rounds up to then, no downtime).

  bench/qemu_side_by_side.py [--accel tcg|kvm] [--workload W]... [--ram MiB]
                             [--caps 25,50] [--methods qemu-migrate,xen,dpdc:ring,...]
                             [--warmup S] [--limit S] [--engine-warmup S]
                             [--json | --markdown]

On a host without KVM, bench/qemu_kvm_side_by_side.sh runs --accel kvm inside
the VM runner (tests/vm/run.sh), where KVM is real.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("DPDC_BIN", os.path.join(ROOT, "build", "bin"))

POLICIES = ("xen", "qemu", "dpdc")
DIRTY_SOURCES = ("ring", "fault", "content")
DEFAULT_METHODS = {
    "tcg": "qemu-migrate,xen,qemu,dpdc",
    "kvm": "qemu-migrate,xen:ring,qemu:ring,dpdc:ring,xen:fault,dpdc:fault,xen:content,qemu:content,dpdc:content",
}
# The engine's dirty ring needs KVM's dirty-ring-size. -cpu qemu64 names the
# baseline model so that both ends agree whatever the KVM underneath offers
# (a paravirtual or nested one offers less than the host's CPU).
ACCEL_ARGS = {
    "tcg": ["-accel", "tcg"],
    "kvm": ["-accel", "kvm,dirty-ring-size=4096", "-cpu", "qemu64"],
}


def parse_method(method):
    """qemu-migrate, or (policy, --dirty-source value) for the engine."""
    if method == "qemu-migrate":
        return None
    policy, _, source = method.partition(":")
    if policy not in POLICIES or (source and source not in DIRTY_SOURCES):
        raise ValueError(f"unknown method '{method}': qemu-migrate or POLICY[:SOURCE], "
                         f"POLICY one of {', '.join(POLICIES)}, SOURCE one of {', '.join(DIRTY_SOURCES)}")
    return policy, source or "auto"


class Qmp:
    """A QMP connection that keeps events (with QEMU's timestamps) aside."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        for _ in range(400):
            try:
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.025)
        self.f = self.sock.makefile("rw")
        self.events = []
        json.loads(self.f.readline())
        self("qmp_capabilities")

    def _read(self):
        msg = json.loads(self.f.readline())
        if "event" in msg:
            ts = msg["timestamp"]
            self.events.append((msg["event"], ts["seconds"] + ts["microseconds"] / 1e6))
        return msg

    def __call__(self, cmd, **args):
        self.f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            msg = self._read()
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise RuntimeError(f"{cmd}: {msg['error']['desc']}")

    def wait_event(self, name, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for ev, ts in self.events:
                if ev == name:
                    return ts
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                self._read()
            except (socket.timeout, TimeoutError):
                break
            finally:
                self.sock.settimeout(None)
        raise RuntimeError(f"no {name} event within {timeout} s")


class Relay:
    """Forwards one TCP connection to the destination and counts its bytes."""

    BUFFER = 64 * 1024

    def __init__(self, target_port):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.BUFFER)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.target = target_port
        self.bytes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        src, _ = self.listener.accept()
        dst = socket.socket()
        dst.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.BUFFER)
        dst.connect(("127.0.0.1", self.target))
        back = threading.Thread(target=self._pipe, args=(dst, src, False), daemon=True)
        back.start()
        self._pipe(src, dst, True)
        back.join(timeout=5)

    def _pipe(self, a, b, count):
        try:
            while True:
                data = a.recv(self.BUFFER)
                if not data:
                    break
                if count:
                    self.bytes += len(data)
                b.sendall(data)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def guest_rounds(qmp, tmp):
    path = os.path.join(tmp, "status")
    qmp("pmemsave", val=0x8000, size=200, filename=path)
    with open(path, "rb") as f:
        data = f.read()
    state = int.from_bytes(data[8:12], "little")
    return state, int.from_bytes(data[48:56], "little")


def keep_report(args, workload, cap_mb, method, report):
    """--reports DIR: the engine's whole --json report (every round), or for
    QEMU's own migration its query-migrate samples, one file per run."""
    if not args.reports:
        return
    os.makedirs(args.reports, exist_ok=True)
    name = f"{workload.split(',')[0]}-{cap_mb:g}-{method.replace(':', '-')}.json"
    with open(os.path.join(args.reports, name), "w") as f:
        json.dump(report, f, indent=1)


def run_one(method, cap_mb, workload, args, tmp):
    ram = f"{args.ram}M"
    machine = ["-M", "pc", "-m", ram, "-kernel", os.path.join(BIN, "dpdc-guest.img"), "-append", workload]
    base = ["qemu-system-x86_64", "-display", "none", "-nodefaults"] + ACCEL_ARGS[args.accel]
    if method.endswith(":fault"):
        # QEMU's default: KVM without a dirty ring (the engine follows its dirty bitmap).
        base = ["qemu-system-x86_64", "-display", "none", "-nodefaults", "-accel", "kvm", "-cpu", "qemu64"]
    dport = free_port()
    src_args = base + ["-object", f"memory-backend-memfd,id=pc.ram,size={ram},share=on",
                       "-M", "pc,memory-backend=pc.ram", "-m", ram,
                       "-kernel", os.path.join(BIN, "dpdc-guest.img"), "-append", workload,
                       "-qmp", f"unix:{tmp}/engine.sock,server=on,wait=off",
                       "-qmp", f"unix:{tmp}/src.sock,server=on,wait=off"]
    dst_args = base + machine + ["-incoming", f"tcp:127.0.0.1:{dport}",
                                 "-qmp", f"unix:{tmp}/dst.sock,server=on,wait=off"]
    procs = [subprocess.Popen(src_args), subprocess.Popen(dst_args)]
    try:
        src, dst = Qmp(f"{tmp}/src.sock"), Qmp(f"{tmp}/dst.sock")
        while guest_rounds(src, tmp)[0] != 2:
            time.sleep(0.1)
        time.sleep(args.warmup)
        relay = Relay(dport)
        uri = f"tcp:127.0.0.1:{relay.port}"
        start = time.time()
        if method == "qemu-migrate":
            # The guest must be as old at round 1 as in the engine's runs,
            # which watch it for --engine-warmup seconds first: a hotcold
            # guest keeps touching new pages, so age changes what is sent.
            time.sleep(args.engine_warmup)
            src("migrate-set-parameters", **{"max-bandwidth": int(cap_mb * 1e6), "downtime-limit": 300})
            src("migrate", uri=uri)
            samples = []
            while True:
                st = src("query-migrate")
                samples.append({"t_ms": round((time.time() - start - args.engine_warmup) * 1000, 1),
                                "status": st["status"], "ram": st.get("ram")})
                if st["status"] in ("completed", "failed"):
                    break
                if time.time() - start > args.limit:
                    src("migrate_cancel")
                    relay.thread.join(timeout=30)
                    for q in (src, dst):
                        try:
                            q("quit")
                        except (RuntimeError, OSError, ValueError):
                            pass
                    return {"method": method, "accel": args.accel, "cap_mb_s": cap_mb, "workload": workload,
                            "bytes": relay.bytes, "rounds": st["ram"]["dirty-sync-count"], "total_ms": None,
                            "downtime_ms": None, "converged": False, "dirty_source": None, "scan_wait_ms": None}
                time.sleep(0.05)
            if st["status"] != "completed":
                raise RuntimeError(f"QEMU's migration failed: {st}")
            rounds = st["ram"]["dirty-sync-count"]
            keep_report(args, workload, cap_mb, method, {"query_migrate_samples": samples, "last": st})
            own = {"qemu_downtime_ms": st.get("downtime"), "qemu_total_ms": st.get("total-time"),
                   "final_round_bytes": st["ram"].get("downtime-bytes"), "dirty_source": None,
                   "scan_wait_ms": None}
        else:
            policy, source = parse_method(method)
            out = subprocess.run([os.path.join(BIN, "dpdc-engine"), "attach", "--pid", str(procs[0].pid),
                                  "--qmp", f"{tmp}/engine.sock", "--to", uri, "--policy", policy,
                                  "--dirty-source", source, "--max-bandwidth", str(cap_mb),
                                  "--warmup", str(args.engine_warmup), "--json"],
                                 capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise RuntimeError(f"dpdc-engine: {out.stderr.strip()}")
            rep = json.loads(out.stdout)
            keep_report(args, workload, cap_mb, method, rep)
            rounds = rep["totals"]["rounds"]
            own = {"engine_stop_to_last_page_ms": rep["totals"]["stop_to_last_page_ms"],
                   "pages_sent": rep["totals"]["pages_sent"], "final_round_bytes": rep["final_round"]["bytes"],
                   "engine_wire_bytes": rep["wire_bytes"], "switchover": rep["switchover"],
                   "policy": policy, "dirty_source_requested": source, "dirty_source": rep.get("dirty_source"),
                   "scan_wait_ms": rep["switchover"].get("scan_wait_ms")}
        stop_ts = src.wait_event("STOP", 30)
        resume_ts = dst.wait_event("RESUME", 60)
        relay.thread.join(timeout=30)
        row = {"method": method, "accel": args.accel, "cap_mb_s": cap_mb, "workload": workload,
               "bytes": relay.bytes, "rounds": rounds, "converged": True,
               "total_ms": round((resume_ts - start - args.engine_warmup) * 1000, 1),
               "downtime_ms": round((resume_ts - stop_ts) * 1000, 1)}
        row.update(own)
        for q in (src, dst):
            try:
                q("quit")
            except (RuntimeError, OSError, ValueError):
                pass
        return row
    finally:
        reap(procs, 10)


def reap(procs, timeout=20):
    """Waits for each process to exit (a QMP quit was sent), killing it after `timeout` s."""
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fmt_ms(v):
    return "-" if v is None else f"{v:.0f}"


def print_table(rows, args, markdown):
    accel = args.accel.upper()
    for workload in dict.fromkeys(r["workload"] for r in rows):
        if markdown:
            print(f"\n{workload}, {args.ram} MiB guest, {accel}\n")
            print("| cap MB/s | method | source | MiB sent | vs QEMU migrate | rounds | total ms | downtime ms "
                  "| scan wait ms |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        else:
            print(f"workload {workload}, {args.ram} MiB guest, {accel}")
            print(f"{'cap MB/s':>8} {'method':>13} {'source':>14} {'MiB sent':>9} {'vs QEMU':>8} {'rounds':>6} "
                  f"{'total ms':>9} {'downtime ms':>11} {'scan wait ms':>12}")
        mine = [r for r in rows if r["workload"] == workload]
        for cap in sorted({r["cap_mb_s"] for r in mine}):
            ref = next((r for r in mine if r["cap_mb_s"] == cap and r["method"] == "qemu-migrate"), None)
            for r in (r for r in mine if r["cap_mb_s"] == cap):
                ratio = f"{r['bytes'] / ref['bytes']:.2f}x" if ref and ref["bytes"] else "-"
                if ref and not ref["converged"]:
                    ratio = "(" + ratio + ")"
                note = "" if r["converged"] else f" (cancelled after {args.limit:g} s)"
                source = r.get("dirty_source") or "-"
                # Whole ms would show most scan waits as 0.
                wait = "-" if r.get("scan_wait_ms") is None else f"{r['scan_wait_ms']:.1f}"
                if markdown:
                    print(f"| {cap:g} | {r['method']}{note} | {source} | {r['bytes'] / 2**20:.1f} | {ratio} | "
                          f"{r['rounds']} | {fmt_ms(r['total_ms'])} | {fmt_ms(r['downtime_ms'])} | {wait} |")
                else:
                    print(f"{cap:>8g} {r['method']:>13} {source:>14} {r['bytes'] / 2**20:>9.1f} {ratio:>8} "
                          f"{r['rounds']:>6} {fmt_ms(r['total_ms']):>9} {fmt_ms(r['downtime_ms']):>11} "
                          f"{wait:>12}{note}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", action="append",
                    help="dpdc-guest workload (repeatable); default hotcold,hot=10,writes=90,pages=16384,delay=200")
    ap.add_argument("--ram", type=int, default=256, help="guest RAM in MiB")
    ap.add_argument("--caps", default="25,50", help="bandwidth caps in MB/s")
    ap.add_argument("--accel", choices=sorted(ACCEL_ARGS), default="tcg",
                    help="accelerator of both QEMUs (kvm: with a dirty ring of 4096 entries); default tcg")
    ap.add_argument("--methods",
                    help="comma-separated qemu-migrate and POLICY[:ring|content]; default "
                         f"{DEFAULT_METHODS['tcg']} (tcg), {DEFAULT_METHODS['kvm']} (kvm)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds the guest runs before the migration")
    ap.add_argument("--limit", type=float, default=120.0, help="seconds before QEMU's own migration is cancelled")
    ap.add_argument("--engine-warmup", type=float, default=0.0,
                    help="the engine's --warmup: seconds it watches the guest before round 1 (not counted in total)")
    ap.add_argument("--reports", metavar="DIR",
                    help="keep each run's full report here: the engine's --json (every round), "
                         "QEMU's query-migrate samples")
    out = ap.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    methods = (args.methods or DEFAULT_METHODS[args.accel]).split(",")
    # Checked before the first run: a typo should not cost the runs before it.
    try:
        for method in methods:
            parse_method(method)
    except ValueError as e:
        ap.error(str(e))
    workloads = args.workload or ["hotcold,hot=10,writes=90,pages=16384,delay=200"]
    rows = []
    for workload in workloads:
        for cap in [float(c) for c in args.caps.split(",")]:
            for method in methods:
                with tempfile.TemporaryDirectory(prefix="dpdc-side-by-side.") as tmp:
                    row = run_one(method, cap, workload, args, tmp)
                rows.append(row)
                print(f"# {workload} {method} at {cap:g} MB/s: {row}", file=sys.stderr)
    if args.json:
        print(json.dumps({"ram_mib": args.ram, "accel": args.accel, "rows": rows}, indent=2))
        return
    print_table(rows, args, args.markdown)


if __name__ == "__main__":
    main()
