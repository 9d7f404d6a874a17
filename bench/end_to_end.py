#!/usr/bin/env python3
"""The whole migration path, end to end, for guests whose every page is
non-zero, with no bandwidth cap, every path in one run (issue: "migration at
the speed of the machine"). Paths:

  copy      the same bytes through a Unix socket pair, sendfile() from a
            memfd into recv_into() a buffer: what the machine can do
  qemu      QEMU's own `migrate`, QEMU to QEMU over a Unix socket (a TCG PC
            with no disk: its firmware idles)
  vm-unix   dpdc-engine attach --to unix:, dpdc-vm to `dpdc-vm -incoming`
  vm-file   dpdc-engine attach --to file:, a dpdc-vm to a file
  qemu-ring     dpdc-engine attach, QEMU (-accel kvm,dirty-ring-size) to a
                plain QEMU -incoming (KVM too), the BPF tracker on the ring
  qemu-content  the same from a TCG QEMU, dirty pages from content scans
  vm-dest   the ceiling of a dpdc-vm destination alone: a stream the engine
            recorded (to file:, untimed) sent into `dpdc-vm -incoming` with
            sendfile()
  qemu-dest the ceiling of a QEMU destination alone: QEMU's own stream,
            recorded with `migrate exec:` (untimed), sent into `-incoming`

For each: total time, guest GiB/s, CPU seconds (user+system) per GiB on the
sending and the receiving side, downtime (source STOP to destination RESUME,
QMP timestamps, one clock), and the engine's peak private (anonymous)
memory, sampled every 20 ms. Each row is also printed to stderr as it is
measured. The dpdc-vm paths and qemu-ring need /dev/kvm: where the host has
none, run this inside the VM runner (absolute figures there are slower;
ratios within one run still hold; 8 GiB rows need about 18 GiB):

  tests/vm/run.sh --kernel 6.12 --mem 18432 -- bench/end_to_end.py --markdown

  bench/end_to_end.py [--sizes 1,2,4,8] [--paths copy,qemu,vm-unix,...]
                      [--bin DIR]... [--json | --markdown]

--bin DIR (repeatable) runs the engine's paths once per directory holding a
dpdc-engine and a dpdc-vm (default build/bin), so that a change is measured
before and after in the same run.
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu_side_by_side import BIN, Qmp, reap  # noqa: E402

GIB = 1 << 30
TICK = os.sysconf("SC_CLK_TCK")
PATHS = ("copy", "qemu", "vm-unix", "vm-file", "qemu-ring", "qemu-content", "vm-dest", "qemu-dest")
# The paths that run the engine (or dpdc-vm): once per --bin.
ENGINE_PATHS = ("vm-unix", "vm-file", "qemu-ring", "qemu-content", "vm-dest")
QEMU = ["qemu-system-x86_64", "-display", "none", "-nodefaults"]
ACCEL = {"tcg": ["-accel", "tcg"], "kvm": ["-accel", "kvm,dirty-ring-size=4096"]}


def cpu_seconds(pid):
    """user, system seconds of a live process (its threads included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def fill(fd, size, start=0, end=None):
    """Every page of [start, end) non-zero and distinct in its first word."""
    chunk = bytearray(1 << 20)
    for off in range(start, size if end is None else end, 1 << 20):
        for p in range(0, 1 << 20, 4096):
            chunk[p:p + 8] = (off + p + 1).to_bytes(8, "little")
        os.pwrite(fd, chunk, off)


def path_copy(size, tmp):
    fd = os.memfd_create("e2e-copy")
    os.ftruncate(fd, size)
    fill(fd, size)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    got, cpu_recv = [0], [0.0]

    def receive():
        buf = bytearray(4 << 20)
        view = memoryview(buf)
        t0 = time.thread_time()
        while got[0] < size:
            n = b.recv_into(view)
            if n == 0:
                break
            got[0] += n
        cpu_recv[0] = time.thread_time() - t0

    th = threading.Thread(target=receive)
    start = time.monotonic()
    th.start()
    t0 = time.thread_time()
    off = 0
    while off < size:
        off += os.sendfile(a.fileno(), fd, off, size - off)
    cpu_send = time.thread_time() - t0
    th.join()
    total = time.monotonic() - start
    a.close(), b.close(), os.close(fd)
    if got[0] != size:
        raise RuntimeError(f"copy: received {got[0]} of {size} bytes")
    return {"total_s": total, "send_cpu_s": cpu_send, "recv_cpu_s": cpu_recv[0], "downtime_ms": None,
            "engine_peak_private_mib": None}


# The QEMU paths: a PC with no disk and no kernel. SeaBIOS finds nothing to
# boot and idles; its code and tables stay in the lowest and the highest
# 2 MiB of RAM, which are left as the firmware wrote them (every other page
# is filled). Both ends use the same accelerator: a KVM source's stream
# carries KVM-only state (kvmclock) a TCG destination refuses.
def qemu_source(size, tmp, accel="tcg"):
    """A QEMU whose RAM is a shared memfd, filled; QMP at src.sock (and at
    engine.sock, the engine's own). Returns the process and its QMP."""
    mib = size >> 20
    src = subprocess.Popen(QEMU + ACCEL[accel] + [
        "-m", f"{mib}M", "-object", f"memory-backend-memfd,id=pc.ram,size={mib}M,share=on",
        "-M", "pc,memory-backend=pc.ram", "-qmp", f"unix:{tmp}/engine.sock,server=on,wait=off",
        "-qmp", f"unix:{tmp}/src.sock,server=on,wait=off"])
    try:
        s = Qmp(f"{tmp}/src.sock")
        fds = f"/proc/{src.pid}/fd"
        memfd = next(os.path.join(fds, n) for n in os.listdir(fds)
                     if os.readlink(os.path.join(fds, n)).startswith("/memfd:"))
        fd = os.open(memfd, os.O_RDWR)
        try:
            fill(fd, size, 2 << 20, size - (2 << 20))
        finally:
            os.close(fd)
        return src, s
    except BaseException:
        src.kill()
        src.wait()
        raise


def qemu_destination(size, tmp, uri, accel="tcg"):
    return subprocess.Popen(QEMU + ACCEL[accel] + [
        "-m", f"{size >> 20}M", "-M", "pc", "-incoming", uri, "-qmp", f"unix:{tmp}/dst.sock,server=on,wait=off"])


def path_qemu(size, tmp):
    sock = os.path.join(tmp, "mig.sock")
    src, s = qemu_source(size, tmp)
    dst = qemu_destination(size, tmp, f"unix:{sock}")
    try:
        d = Qmp(f"{tmp}/dst.sock")
        s("migrate-set-parameters", **{"max-bandwidth": 1 << 40, "downtime-limit": 300})
        s0, d0 = cpu_seconds(src.pid), cpu_seconds(dst.pid)
        start = time.monotonic()
        s("migrate", uri=f"unix:{sock}")
        st = wait_migrated(s, "qemu")
        total = time.monotonic() - start
        resume = d.wait_event("RESUME", 60)
        s1, d1 = cpu_seconds(src.pid), cpu_seconds(dst.pid)
        stop = s.wait_event("STOP", 10)
        for q in (s, d):
            q("quit")
        return {"total_s": total, "send_cpu_s": sum(s1) - sum(s0), "recv_cpu_s": sum(d1) - sum(d0),
                "downtime_ms": (resume - stop) * 1000, "qemu_downtime_ms": st.get("downtime"),
                "engine_peak_private_mib": None}
    finally:
        reap((src, dst))


def wait_migrated(qmp, what):
    while (st := qmp("query-migrate"))["status"] not in ("completed", "failed"):
        time.sleep(0.01)
    if st["status"] != "completed":
        raise RuntimeError(f"{what}: the migration failed: {st}")
    return st


def peak_private(pid, stop, out):
    """Largest RssAnon of `pid` until `stop` is set, in KiB."""
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        out[0] = max(out[0], int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            return
        stop.wait(0.02)


def run_engine(argv):
    """Runs `dpdc-engine attach ... --json` to its end: wall seconds, its
    rusage (wait4: threads included), its report, its peak private KiB."""
    start = time.monotonic()
    eng = subprocess.Popen(argv + ["--json", "--progress", "none"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=peak_private, args=(eng.pid, stop, peak))
    sampler.start()
    texts = {}
    readers = [threading.Thread(target=lambda k, f: texts.__setitem__(k, f.read()), args=(k, f))
               for k, f in (("out", eng.stdout), ("err", eng.stderr))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(eng.pid, 0)
    eng.returncode = os.waitstatus_to_exitcode(status)
    total = time.monotonic() - start
    for r in readers:
        r.join()
    stop.set()
    sampler.join()
    if eng.returncode != 0:
        raise RuntimeError(f"dpdc-engine exit {eng.returncode}: {texts['err'].strip()}")
    return total, usage, json.loads(texts["out"]), peak[0]


def engine_row(total, usage, rep, peak_kib):
    return {"total_s": total, "engine_report_ms": rep["totals"]["total_ms"],
            "send_cpu_s": usage.ru_utime + usage.ru_stime, "engine_user_s": usage.ru_utime,
            "engine_sys_s": usage.ru_stime, "engine_stop_to_last_page_ms": rep["totals"]["stop_to_last_page_ms"],
            "engine_peak_private_mib": peak_kib / 1024, "wire_bytes": rep["wire_bytes"],
            "dirty_source": rep.get("dirty_source")}


def path_qemu_engine(size, tmp, source, bindir):
    """(d): the engine from a QEMU to a plain QEMU; `source` is ring (a KVM
    QEMU with a dirty ring) or content (a TCG QEMU)."""
    sock = os.path.join(tmp, "mig.sock")
    accel = "kvm" if source == "ring" else "tcg"
    src, s = qemu_source(size, tmp, accel)
    dst = qemu_destination(size, tmp, f"unix:{sock}", accel)
    try:
        d = Qmp(f"{tmp}/dst.sock")
        d0 = cpu_seconds(dst.pid)
        row = engine_row(*run_engine([os.path.join(bindir, "dpdc-engine"), "attach", "--pid", str(src.pid),
                                      "--qmp", f"{tmp}/engine.sock", "--to", f"unix:{sock}",
                                      "--dirty-source", source]))
        resume = d.wait_event("RESUME", 120)
        d1 = cpu_seconds(dst.pid)
        row.update(recv_cpu_s=sum(d1) - sum(d0), downtime_ms=(resume - s.wait_event("STOP", 10)) * 1000)
        for q in (s, d):
            q("quit")
        return row
    finally:
        reap((src, dst))


def feed(stream, sock_path, dst, d):
    """Sends the file `stream` into the destination listening at `sock_path`
    with sendfile(): total seconds until its RESUME, its CPU seconds."""
    while not os.path.exists(sock_path):
        time.sleep(0.02)
    d0 = cpu_seconds(dst.pid)
    start = time.monotonic()
    with socket.socket(socket.AF_UNIX) as c, open(stream, "rb") as f:
        c.connect(sock_path)
        size, off = os.fstat(f.fileno()).st_size, 0
        while off < size:
            off += os.sendfile(c.fileno(), f.fileno(), off, size - off)
        c.shutdown(socket.SHUT_WR)  # the end of the stream, as a sender that is done closes its end
        d.wait_event("RESUME", 300)
        total = time.monotonic() - start
    d1 = cpu_seconds(dst.pid)
    return {"total_s": total, "send_cpu_s": None, "recv_cpu_s": sum(d1) - sum(d0), "downtime_ms": None,
            "engine_peak_private_mib": None, "stream_bytes": size}


def path_qemu_dest(size, tmp):
    stream = os.path.join(tmp, "stream.bin")
    src, s = qemu_source(size, tmp)
    try:
        s("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
        s("migrate", uri=f"exec:cat > {stream}")
        wait_migrated(s, "qemu-dest (recording)")
        s("quit")
    finally:
        reap((src,))
    sock = os.path.join(tmp, "mig.sock")
    dst = qemu_destination(size, tmp, f"unix:{sock}")
    try:
        d = Qmp(f"{tmp}/dst.sock")
        row = feed(stream, sock, dst, d)
        d("quit")
        return row
    finally:
        reap((dst,))


def seq_source(size, tmp, bindir):
    """A dpdc-vm whose guest wrote every page once (seq) and now idles."""
    src_q = f"{tmp}/src.qmp"
    src = subprocess.Popen([os.path.join(bindir, "dpdc-vm"), "-m", f"{size >> 20}M", "--workload", "seq,rounds=1",
                            "--qmp", f"unix:{src_q},server=on,wait=off"])
    s = Qmp(src_q)
    deadline = time.monotonic() + 3600
    while not s("x-dpdc-query-workload")["finished"]:
        if time.monotonic() > deadline:
            src.kill()
            raise RuntimeError("the seq workload did not finish within an hour")
        time.sleep(0.2)
    return src, s


def vm_destination(size, tmp, bindir, mig):
    dst_q = f"{tmp}/dst.qmp"
    dst = subprocess.Popen([os.path.join(bindir, "dpdc-vm"), "-m", f"{size >> 20}M", "--incoming", f"unix:{mig}",
                            "--qmp", f"unix:{dst_q},server=on,wait=off"])
    return dst, Qmp(dst_q)


def path_vm(size, tmp, to_file, bindir):
    mig, out_file = f"{tmp}/mig.sock", f"{tmp}/stream.bin"
    procs = []
    try:
        # The workload area is the whole RAM: seq writes every page once, then idles.
        src, s = seq_source(size, tmp, bindir)
        procs.append(src)
        dst = d = None
        if not to_file:
            dst, d = vm_destination(size, tmp, bindir, mig)
            procs.append(dst)
            while not os.path.exists(mig):
                time.sleep(0.02)
        s0 = cpu_seconds(src.pid)
        d0 = cpu_seconds(dst.pid) if dst else (0, 0)
        row = engine_row(*run_engine([os.path.join(bindir, "dpdc-engine"), "attach", "--pid", str(src.pid),
                                      "--to", f"file:{out_file}" if to_file else f"unix:{mig}"]))
        downtime = None
        if d:
            resume = d.wait_event("RESUME", 120)
            downtime = (resume - s.wait_event("STOP", 10)) * 1000
        s1 = cpu_seconds(src.pid)
        d1 = cpu_seconds(dst.pid) if dst else (0, 0)
        row.update(recv_cpu_s=(sum(d1) - sum(d0)) if dst else None, source_vmm_cpu_s=sum(s1) - sum(s0),
                   downtime_ms=downtime)
        return row
    finally:
        for p in procs:
            p.kill()
            p.wait()
        if os.path.exists(out_file):
            os.unlink(out_file)


def path_vm_dest(size, tmp, bindir):
    stream, mig = f"{tmp}/stream.bin", f"{tmp}/mig.sock"
    src, _ = seq_source(size, tmp, bindir)
    try:
        run_engine([os.path.join(bindir, "dpdc-engine"), "attach", "--pid", str(src.pid), "--to", f"file:{stream}"])
    finally:
        src.kill()
        src.wait()
    dst, d = vm_destination(size, tmp, bindir, mig)
    try:
        return feed(stream, mig, dst, d)
    finally:
        dst.kill()
        dst.wait()


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(rows, markdown):
    head = ["GiB", "path", "binaries", "total s", "guest GiB/s", "send CPU s/GiB", "recv CPU s/GiB",
            "engine user/sys s", "downtime ms", "engine peak private MiB"]
    lines = []
    for r in rows:
        g = r["gib"]
        lines.append([str(g), r["path"], r.get("bin", "-"), fmt(r["total_s"], ".2f"),
                      fmt(g / r["total_s"], ".3f"),
                      fmt(r["send_cpu_s"] / g if r["send_cpu_s"] is not None else None, ".2f"),
                      fmt(r["recv_cpu_s"] / g if r["recv_cpu_s"] is not None else None, ".2f"),
                      f"{r['engine_user_s']:.2f}/{r['engine_sys_s']:.2f}" if "engine_user_s" in r else "-",
                      fmt(r["downtime_ms"], ".0f"), fmt(r["engine_peak_private_mib"], ".1f")])
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(" --- " if i < 3 else " ---: " for i in range(len(head))) + "|")
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        for l in [head] + lines:
            print("  ".join(c.rjust(w) for c, w in zip(l, widths)))


def run_path(path, size, tmp, bindir):
    if path == "copy":
        return path_copy(size, tmp)
    if path == "qemu":
        return path_qemu(size, tmp)
    if path == "qemu-dest":
        return path_qemu_dest(size, tmp)
    if path.startswith("qemu-"):
        return path_qemu_engine(size, tmp, path.removeprefix("qemu-"), bindir)
    if path == "vm-dest":
        return path_vm_dest(size, tmp, bindir)
    return path_vm(size, tmp, path == "vm-file", bindir)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,2,4,8", help="guest sizes in GiB (default 1,2,4,8)")
    ap.add_argument("--paths", default=",".join(PATHS), help=f"paths to run (default {','.join(PATHS)})")
    ap.add_argument("--bin", action="append",
                    help="directory of dpdc-engine and dpdc-vm (repeatable: the engine's paths run once per directory; "
                         "default build/bin)")
    ap.add_argument("--json", action="store_true", help="one JSON array of rows")
    ap.add_argument("--markdown", action="store_true", help="the table in Markdown")
    args = ap.parse_args()
    paths = args.paths.split(",")
    for p in paths:
        if p not in PATHS:
            ap.error(f"unknown path '{p}'; the paths are {', '.join(PATHS)}")
    bindirs = args.bin or [BIN]
    if any(p.startswith("vm-") or p == "qemu-ring" for p in paths) and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("end_to_end: the dpdc-vm paths and qemu-ring need /dev/kvm; run this inside tests/vm/run.sh, "
                 "or pick --paths copy,qemu,qemu-content,qemu-dest")
    rows = []
    for gib in (float(x) for x in args.sizes.split(",")):
        size = int(gib * GIB)
        for path in paths:
            for bindir in (bindirs if path in ENGINE_PATHS else [None]):
                with tempfile.TemporaryDirectory(prefix="dpdc-e2e.", dir="/dev/shm") as tmp:
                    try:
                        row = run_path(path, size, tmp, bindir)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                        # One path failing (e.g. out of memory at 8 GiB) leaves the others' rows.
                        print(f"end_to_end: {gib:g} GiB {path}: failed: {e}", file=sys.stderr, flush=True)
                        continue
                if bindir:
                    row["bin"] = os.path.relpath(bindir)
                row.update(gib=gib, path=path)
                rows.append(row)
                # Each row as it comes, so that a run cut short still says what it measured.
                print(f"end_to_end: row {json.dumps(row)}", file=sys.stderr, flush=True)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        print_table(rows, args.markdown)


if __name__ == "__main__":
    main()
