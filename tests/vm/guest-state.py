#!/usr/bin/env python3
"""guest-state.py MONITOR_SOCKET SYMBOLS [SAMPLES]: where a stuck guest is.

Asks the VM runner's QEMU (its QMP socket) for the vCPUs' registers a few
times, a second apart, and prints each vCPU's instruction pointer with the
guest kernel symbol it falls in. SYMBOLS is the guest's own /proc/kallsyms
(stage2.sh saves it, modules included) or a System.map: the guest boots
with nokaslr, so either holds the running addresses. A guest whose RIP never moves
out of one function is spinning there; one in a nested guest shows the
nested guest's registers (QEMU's SVM emulation keeps the running level's).
Prints lines "vm:   ..."; never fails the caller.
"""
import bisect
import json
import re
import socket
import sys
import time


def qmp(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    f = s.makefile("rw")
    f.readline()  # greeting

    def call(cmd, **args):
        f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r or "error" in r:
                return r.get("return", r.get("error"))

    call("qmp_capabilities")
    return call


def symbols(path):
    addrs, names = [], []
    try:
        for line in open(path):
            a, kind, name = line.split()[:3]
            if int(a, 16) == 0 or int(a, 16) == 2**64 - 1:
                continue
            if kind.lower() in "tw":
                addrs.append(int(a, 16))
                names.append(name)
    except OSError:
        pass
    return addrs, names


def main():
    sock, smap = sys.argv[1], sys.argv[2]
    samples = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    addrs, names = symbols(smap)
    try:
        call = qmp(sock)
        for i in range(samples):
            regs = call("human-monitor-command", **{"command-line": "info registers -a"})
            for block in re.split(r"\n(?=CPU#)", regs if isinstance(regs, str) else ""):
                cpu = (re.match(r"CPU#(\d+)", block) or [None, "?"])[1]
                rip = re.search(r"RIP=([0-9a-f]+)", block)
                hf = re.search(r"HLT=(\d)", block)
                cpl = re.search(r"CPL=(\d)", block)
                if not rip:
                    continue
                ip = int(rip.group(1), 16)
                k = bisect.bisect_right(addrs, ip) - 1
                where = f"{names[k]}+{ip - addrs[k]:#x}" if k >= 0 and ip >= 0xffff800000000000 else "(user space or a nested guest)"
                print(f"vm:   sample {i} cpu {cpu}: RIP {ip:#x} {where} CPL {cpl.group(1) if cpl else '?'} HLT {hf.group(1) if hf else '?'}")
            time.sleep(1)
        # The local APIC of each CPU (QEMU's emulated one): whether the
        # guest kernel's timer is armed, and whether its interrupt waits in
        # IRR behind something in service (ISR) or a raised TPR.
        apic = call("human-monitor-command", **{"command-line": "info lapic"})
        for line in (apic if isinstance(apic, str) else "").splitlines():
            if re.match(r"(dumping local APIC|LVT0|LVTT|Timer|SPIV|ISR|IRR|APR|ESR|ICR)", line.strip()):
                print(f"vm:   apic: {line.strip()}")
    except (OSError, ValueError) as e:
        print(f"vm:   (the VM's monitor did not answer: {e})")


if __name__ == "__main__":
    main()
