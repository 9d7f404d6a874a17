#!/usr/bin/env python3
"""QEMU's own migration of an idle guest whose pages are all non-zero, over
loopback TCP, with the bandwidth cap lifted: the comparison point for
dpdc_bench_stream. Runs two qemu-system-x86_64 -M none (TCG; no guest code
runs, so only the RAM moves) and prints QEMU's own query-migrate figures.

  bench/qemu_migration.py [GiB]      (default 2)
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def qmp(path):
    s = socket.socket(socket.AF_UNIX)
    for _ in range(200):
        try:
            s.connect(path)
            break
        except OSError:
            time.sleep(0.05)
    f = s.makefile("rw")
    json.loads(f.readline())  # greeting

    def call(cmd, **args):
        f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
        f.flush()
        while True:
            msg = json.loads(f.readline())
            if "return" in msg or "error" in msg:
                if "error" in msg:
                    raise RuntimeError(msg["error"]["desc"])
                return msg["return"]

    call("qmp_capabilities")
    return call


def main():
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    size = int(gib * (1 << 30))
    with tempfile.TemporaryDirectory(prefix="dpdc-qemu-bench.", dir="/dev/shm") as tmp:
        image = os.path.join(tmp, "ram")
        with open(image, "wb") as f:  # every page non-zero, like the engine benchmark
            chunk = bytes((i * 31 + 7) % 255 + 1 for i in range(1 << 20))
            for _ in range(size >> 20):
                f.write(chunk)
        port = 46000 + os.getpid() % 1000
        common = ["qemu-system-x86_64", "-display", "none", "-nodefaults", "-accel", "tcg", "-m", f"{size >> 20}M"]
        dst = subprocess.Popen(common + ["-object", f"memory-backend-ram,id=mem,size={size >> 20}M",
                                         "-M", "none,memory-backend=mem", "-incoming", f"tcp:127.0.0.1:{port}",
                                         "-qmp", f"unix:{tmp}/dst.sock,server=on,wait=off"])
        src = subprocess.Popen(common + ["-object", f"memory-backend-file,id=mem,size={size >> 20}M,share=on,"
                                         f"mem-path={image}", "-M", "none,memory-backend=mem", "-S",
                                         "-qmp", f"unix:{tmp}/src.sock,server=on,wait=off"])
        try:
            s = qmp(f"{tmp}/src.sock")
            d = qmp(f"{tmp}/dst.sock")
            s("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
            time.sleep(0.5)
            s("migrate", uri=f"tcp:127.0.0.1:{port}")
            while True:
                st = s("query-migrate")
                if st.get("status") in ("completed", "failed"):
                    break
                time.sleep(0.02)
            ram = st.get("ram", {})
            total_ms = st.get("total-time", 0)
            print(json.dumps({
                "status": st.get("status"), "guest_bytes": size, "total_time_ms": total_ms,
                "downtime_ms": st.get("downtime"), "ram_mbps": ram.get("mbps"),
                "transferred": ram.get("transferred"), "normal_pages": ram.get("normal"),
                "guest_gib_per_s": size / (1 << 30) / (total_ms / 1000) if total_ms else None}, indent=2))
            d("quit")
            s("quit")
        finally:
            for p in (src, dst):
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
