#!/bin/bash
# PID 1 of the VM runner's guest, in the host's root as the guest sees it
# (read-only 9p under a tmpfs overlay; /proc, /sys, /dev, /tmp, /run, bpffs,
# tracefs and debugfs the guest's own). run.sh left in /run/dpdc-vm the
# command, its environment and working directory; this runs the command as
# root, writes its exit status to /run/dpdc-vm/status and powers off.
out=/run/dpdc-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8 TMPDIR=/tmp
# Inside the runner KVM, BPF and QEMU are promised: a test that needs one
# and finds it missing fails instead of skipping.
export DPDC_REQUIRE_KVM=1 DPDC_REQUIRE_BPF=1 DPDC_REQUIRE_QEMU=1
# shellcheck disable=SC1091
source "$out/env"
export DPDC_VM_OUT=$out/files DPDC_VM_KERNEL=$(uname -r)
mkdir -p "$DPDC_VM_OUT"

# reboot(2) at once (busybox poweroff -f): sysrq's power-off is asynchronous,
# and PID 1 must not read the 9p root while the devices go down.
poweroff_now() {
    sync
    exec busybox poweroff -f
}

if ! [[ -c /dev/kvm ]] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "vm: /dev/kvm does not open in the guest (kernel $(uname -r)): the KVM modules did not load" >&2
    echo 125 >"$out/status"
    poweroff_now
fi

echo "vm: kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%d MiB", $2 / 1024}' /proc/meminfo), /dev/kvm ready; running: $(cat "$out/command.txt")"
# A working directory under a path the guest mounts its own filesystem on
# (/tmp, /run, /dev/shm: a checkout in /tmp, say) is the host's, writable
# through an overlay like the rest of the root.
cwd=$(cat "$out/cwd")
# The kernel's and modules' code symbols, for run.sh to name where a guest
# that stopped answering spins (it boots with nokaslr; Debian's newer images
# ship no System.map). Loaded modules only: kvm and kvm-amd are.
grep -E ' [tTwW] ' /proc/kallsyms >"$out/kallsyms" 2>/dev/null || true
for shadowed in /tmp /run /dev/shm; do
    if [[ $cwd == "$shadowed"/* ]]; then
        rw=/run/dpdc-vm-rw
        mkdir -p "$cwd" "$rw/upper" "$rw/work"
        mount -t overlay -o "lowerdir=/run/dpdc-host$cwd,upperdir=$rw/upper,workdir=$rw/work" overlay "$cwd" ||
            echo "vm: cannot overlay the host's $cwd" >&2
    fi
done
cd "$cwd" || { echo "vm: the working directory $cwd is not in the guest" >&2; echo 125 >"$out/status"; poweroff_now; }
# The heartbeat: run.sh takes a file that stops changing for a guest kernel
# that stopped (docs/vm-runner.md, "When a run hangs"), long before the
# run's own deadline.
(while :; do date +%s >"$out/heartbeat"; sleep 10; done) </dev/null >/dev/null 2>&1 &
bash "$out/command" </dev/null
echo $? >"$out/status"
poweroff_now
