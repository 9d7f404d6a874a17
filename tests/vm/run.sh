#!/usr/bin/env bash
# tests/vm/run.sh: runs one command as root inside a Debian kernel booted
# under QEMU TCG, where KVM is real (TCG emulates AMD SVM with nested paging,
# so kvm-amd loads), whatever the host has.
#
#   tests/vm/run.sh --kernel 6.12 -- build/tests/dpdc_integration_tests --gtest_filter='DpdcVm.*'
#
# The guest sees the host's whole root read-only (9p) under a tmpfs overlay:
# the project's build, bpftool, qemu-system-x86_64 and everything else the
# host has are there at the same paths; what the guest writes stays in its
# RAM. The command runs in the current directory with DPDC_* and GTEST_*
# (and --env NAME) passed through, DPDC_REQUIRE_{KVM,BPF,QEMU}=1 set, the
# KVM modules loaded, bpffs, tracefs and debugfs mounted and loopback up.
# $DPDC_VM_OUT inside is a directory the host keeps (--out DIR).
#
# Exit status: the command's own; 124 the run exceeded --timeout or the
# guest kernel stopped (no heartbeat for --stall seconds); 125 the
# runner could not fetch or boot the kernel (the reason is printed); 126 the
# guest kernel oopsed, hit a BUG or panicked (its console lines are printed);
# 123 the guest's clock jumped ahead of the host's, so every timeout inside
# fired at once and the run's results say nothing (run it again).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kernel=6.12
mem=${DPDC_VM_MEM:-6144}
# One CPU by default: with two, multi-threaded TCG (QEMU 7.2) breaks under
# nested SVM: the nested guest triple-faults at random and the guest kernel
# dies with "Oops: int3" at text-patching sites (docs/vm-runner.md).
# --smp 2 runs two CPUs on one host thread (thread=single), which is sound.
smp=${DPDC_VM_SMP:-1}
timeout=${DPDC_VM_TIMEOUT:-3600}
# The guest writes a heartbeat every 10 s; none for this long means its
# kernel stopped (a nested-SVM hang under TCG, docs/vm-runner.md).
stall=${DPDC_VM_STALL:-120}
log=
outdir=
quiet=0
envs=()

usage() {
    cat <<EOF
usage: tests/vm/run.sh [options] -- COMMAND [ARGS...]

Boots a Debian kernel of the matrix (tests/vm/kernels.list) under QEMU TCG
with a real KVM inside and runs COMMAND there as root; exits with its status.

options:
  --kernel NAME   matrix kernel: $(awk '!/^#/ && NF {printf "%s ", $1}' "$here/kernels.list")(default $kernel)
  --mem MIB       guest memory in MiB (default $mem; two 1 GiB test guests need 6144)
  --smp N         guest CPUs (default $smp)
  --timeout S     kill the VM after S seconds, exit 124 (default $timeout)
  --stall S       kill the VM when its kernel wrote no heartbeat for S seconds
                  (or none S seconds after boot began), exit 124 (default $stall)
  --env NAME      pass the host's variable NAME into the guest (repeatable;
                  DPDC_* and GTEST_* always pass)
  --out DIR       keep what the command writes to \$DPDC_VM_OUT in DIR
  --log FILE      keep the guest's whole console output in FILE
  --quiet         do not echo the console while it runs
  -h, --help      this text

The kernel cache is DPDC_KERNEL_CACHE (default ~/.cache/dpdc/kernels).
exit: the command's status; 124 timeout or stalled guest; 125 the kernel could not be fetched
or booted; 126 the guest kernel oopsed or panicked; 123 the guest's clock jumped ahead
of the host's (its results are void: run it again).
EOF
}

bad_usage() { echo "vm: $*; see tests/vm/run.sh --help" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n $2 ]] || bad_usage "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
    case $1 in
    --kernel) need_value "$@"; kernel=$2; shift 2 ;;
    --mem) need_value "$@"; mem=$2; shift 2 ;;
    --smp) need_value "$@"; smp=$2; shift 2 ;;
    --timeout) need_value "$@"; timeout=$2; shift 2 ;;
    --stall) need_value "$@"; stall=$2; shift 2 ;;
    --env) need_value "$@"; envs+=("$2"); shift 2 ;;
    --out) need_value "$@"; outdir=$2; shift 2 ;;
    --log) need_value "$@"; log=$2; shift 2 ;;
    --quiet) quiet=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) bad_usage "unknown option '$1' (the command goes after --)" ;;
    esac
done
[[ $# -gt 0 ]] || bad_usage "no command given after --"
for n in "$mem" "$smp" "$timeout" "$stall"; do [[ $n =~ ^[1-9][0-9]*$ ]] || bad_usage "'$n' is not a positive number"; done
command -v qemu-system-x86_64 >/dev/null || { echo "vm: qemu-system-x86_64 is not installed; run scripts/install-deps.sh" >&2; exit 125; }
for tool in busybox cpio modprobe depmod; do
    command -v "$tool" >/dev/null || { echo "vm: $tool is not installed; run scripts/install-deps.sh" >&2; exit 125; }
done

if ! kdir=$("$here/kernel-fetch.sh" "$kernel"); then
    echo "vm: kernel $kernel cannot be had (see above)" >&2
    exit 125
fi
release=$(cat "$kdir/release")

work=$(mktemp -d "${TMPDIR:-/tmp}/dpdc-vm.XXXXXX")
qemu_pid=
cleanup() {
    [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "vm: interrupted; stopping the VM" >&2; exit 130' INT TERM

# The initramfs: busybox, /init, and the modules in load order (modprobe
# resolves the dependencies; busybox insmod wants them uncompressed).
"$here/initramfs.sh" "$kdir" "$work/initrd" || { echo "vm: building the initramfs for $release failed" >&2; exit 125; }

mkdir -p "$work/out/files"
cp "$here/stage2.sh" "$work/out/stage2.sh"
pwd >"$work/out/cwd"
printf '%q ' "$@" >"$work/out/command.txt"
{ echo "exec $(cat "$work/out/command.txt")"; } >"$work/out/command"
{
    for v in $(compgen -e | grep -E '^(DPDC_|GTEST_)' || true) "${envs[@]}"; do
        [[ -v $v ]] && declare -p "$v" | sed 's/^declare -[a-z]* /export /'
    done
} >"$work/out/env"

accel=tcg
((smp > 1)) && accel=tcg,thread=single
qemu=(qemu-system-x86_64 -accel "$accel" -cpu max -m "$mem" -smp "$smp"
    -display none -vga none -nic none -no-reboot -nodefaults
    -L /usr/share/seabios -L /usr/share/qemu
    -kernel "$kdir/vmlinuz" -initrd "$work/initrd"
    -append "console=ttyS0 panic=-1 quiet loglevel=4 random.trust_cpu=on nokaslr"
    -qmp "unix:$work/monitor.sock,server=on,wait=off"
    -chardev "file,id=console,path=$work/console.log" -serial chardev:console
    -virtfs "local,path=/,mount_tag=dpdc-root,security_model=none,readonly=on,multidevs=remap"
    -virtfs "local,path=$work/out,mount_tag=dpdc-out,security_model=none")

echo "vm: booting $kernel ($release) under QEMU TCG ($accel, $smp CPUs, $mem MiB)" >&2
start=$(date +%s)
: >"$work/console.log"
"${qemu[@]}" </dev/null >"$work/qemu.log" 2>&1 &
qemu_pid=$!
if ((quiet == 0)); then
    tail -n +1 -f --pid="$qemu_pid" "$work/console.log" | sed -u 's/\r$//' &
fi
# The deadline, and the heartbeat: a guest still running at the deadline,
# or whose kernel stopped writing its heartbeat, is asked where it is (a
# kernel that spins shows the function), then stopped.
# The heartbeat holds the guest's clock. Under TCG the guest's TSC is the
# host's raw TSC, so when the host machine stalls or moves (its TSC jumps
# while its own clock is corrected) the guest's clock leaps: CI once saw a
# guest log "soft lockup - CPU#0 stuck for 22072s" 422 s into the run, and
# every timeout inside fired at once. Such a run's results say nothing.
timed_out=0
why=
jumped=0
while kill -0 "$qemu_pid" 2>/dev/null; do
    now=$(date +%s)
    if ((now - start >= timeout)); then
        why="still running after $timeout s"
        break
    fi
    guest_now=$(cat "$work/out/heartbeat" 2>/dev/null || true)
    if [[ $guest_now =~ ^[0-9]+$ ]] && ((guest_now - now > 120)); then
        jumped=$((guest_now - now))
        break
    fi
    beat=$(stat -c %Y "$work/out/heartbeat" 2>/dev/null || echo "$start")
    if ((now - beat >= stall)); then
        why="no heartbeat from the guest kernel for $((now - beat)) s (it stopped)"
        break
    fi
    sleep 1
done
if ((jumped > 0)); then
    kill "$qemu_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$qemu_pid" 2>/dev/null || true
elif [[ -n $why ]] && kill -0 "$qemu_pid" 2>/dev/null; then
    timed_out=1
    echo "vm: kernel $kernel ($release): $why; where its CPUs are:" >&2
    smap=$(ls "$work/out/kallsyms" "$kdir"/root/boot/System.map-* 2>/dev/null | head -1 || true)
    timeout 30 python3 "$here/guest-state.py" "$work/monitor.sock" "${smap:-/dev/null}" >&2 || true
    kill "$qemu_pid" 2>/dev/null || true  # it may have stopped meanwhile
    for _ in $(seq 50); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$qemu_pid" 2>/dev/null || true
fi
set +e
wait "$qemu_pid"
qemu_status=$?
set -e
qemu_pid=
wait 2>/dev/null || true
elapsed=$(($(date +%s) - start))
[[ -n $log ]] && sed 's/\r$//' "$work/console.log" >"$log"
# A guest stopped at the deadline may have written nothing back.
if [[ -n $outdir ]]; then
    mkdir -p "$outdir"
    if [[ -d $work/out/files ]]; then cp -a "$work/out/files/." "$outdir/"; fi
fi

crash=$(grep -aE 'Oops|BUG:|Kernel panic|general protection fault|kernel BUG' "$work/console.log" | head -5 || true)
# The kernel's log stamps count from its boot, which began after $start: a
# stamp past the VM's whole life is the same leap, seen after the fact.
last_stamp=$(grep -aoE '^\[ *[0-9]+\.' "$work/console.log" | tr -dc '0-9\n' | sort -n | tail -1 || true)
if ((jumped == 0)) && [[ -n $last_stamp ]] && ((last_stamp - elapsed > 120)); then
    jumped=$((last_stamp - elapsed))
fi
if ((jumped > 0)); then
    echo "vm: kernel $kernel ($release): the guest's clock jumped about $jumped s ahead of the host's in a VM that ran $elapsed s (the host machine stalled, or its TSC jumped); this run's results are void: run it again" >&2
    [[ -z $crash ]] || sed 's/\r$//; s/^/vm:   /' <<<"$crash" >&2
    exit 123
fi
if [[ -n $crash ]]; then
    echo "vm: kernel $kernel ($release): the guest kernel crashed after $elapsed s:" >&2
    sed 's/\r$//; s/^/vm:   /' <<<"$crash" >&2
    exit 126
fi
if ((timed_out)); then
    echo "vm: kernel $kernel ($release): stopped after $elapsed s: $why" >&2
    exit 124
fi
if [[ ! -s $work/out/status ]]; then
    echo "vm: kernel $kernel ($release): the guest stopped after $elapsed s without finishing the command (QEMU exit $qemu_status: $(tail -1 "$work/qemu.log"))" >&2
    exit 125
fi
status=$(cat "$work/out/status")
warnings=$(grep -ac 'WARNING: CPU' "$work/console.log" || true)
((warnings > 0)) && echo "vm: kernel $kernel ($release): the guest kernel printed $warnings WARNING(s); see --log" >&2
echo "vm: kernel $kernel ($release): exit $status in $elapsed s" >&2
exit "$status"
