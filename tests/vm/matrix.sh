#!/usr/bin/env bash
# tests/vm/matrix.sh: the kernel-version matrix. Boots every kernel of
# tests/vm/kernels.list in the VM runner, runs the integration test groups of
# tests/vm/groups.list there (KVM, BPF and the rest that need a kernel), and
# prints a table: kernel x group x passed / failed / skipped / seconds. Inside
# the VM a skip counts as a failure. A kernel that cannot be fetched or
# booted is a failure too, named in the summary, never silently dropped.
#
#   tests/vm/matrix.sh                       # every kernel, every group
#   tests/vm/matrix.sh --kernels 6.12 --groups kvm
#
# Exit status: 0 when every kernel ran every group and all passed; 1 when
# anything failed (each failing kernel is named with its failed tests); 2 bad usage.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/vm

kernels=$(awk '!/^#/ && NF {print $1}' "$here/kernels.list" | paste -sd, -)
# Each VM is one TCG thread: two at a time use two cores.
jobs=${DPDC_MATRIX_JOBS:-$(($(nproc) >= 2 ? 2 : 1))}
groups=
table=
logs=
binary=build/tests/dpdc_integration_tests
# A kernel's whole run took 6-17 minutes (docs/vm-runner.md): one that hangs
# fails after 30 rather than holding CI (two at once: CI stays under 90).
run_opts=(--timeout 1800)

usage() {
    cat <<EOF
usage: tests/vm/matrix.sh [--kernels K1,K2] [--groups G1,G2] [--jobs N] [--table FILE]
                          [--logs DIR] [--mem MIB] [--smp N] [--timeout S]

Runs the integration test groups (tests/vm/groups.list) on every kernel of
the matrix (tests/vm/kernels.list) inside the VM runner (tests/vm/run.sh) and
prints kernel x group x passed/failed/skipped/seconds.
  --kernels LIST  kernels to run (default: $kernels)
  --groups LIST   groups to run (default: every group but host-only, then "other")
  --jobs N        kernels booted at once (default $jobs: one TCG thread each)
  --table FILE    also write the table (Markdown) to FILE
  --logs DIR      keep each kernel's console log and test reports in DIR
  --mem, --smp, --timeout   passed to tests/vm/run.sh
exit: 0 all passed; 1 a test failed or a kernel could not be run; 2 bad usage
EOF
}
bad_usage() { echo "matrix: $*; see tests/vm/matrix.sh --help" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
    --kernels) [[ -n ${2:-} ]] || bad_usage "--kernels needs a value"; kernels=$2; shift 2 ;;
    --groups) [[ -n ${2:-} ]] || bad_usage "--groups needs a value"; groups=$2; shift 2 ;;
    --jobs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || bad_usage "--jobs needs a positive number"; jobs=$2; shift 2 ;;
    --table) [[ -n ${2:-} ]] || bad_usage "--table needs a value"; table=$2; shift 2 ;;
    --logs) [[ -n ${2:-} ]] || bad_usage "--logs needs a value"; logs=$2; shift 2 ;;
    --mem | --smp | --timeout) [[ -n ${2:-} ]] || bad_usage "$1 needs a value"; run_opts+=("$1" "$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) bad_usage "unknown option '$1'" ;;
    esac
done
[[ -x $binary ]] || { echo "matrix: $binary is not built; run scripts/build.sh first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dpdc-matrix.XXXXXX")
pids=()
cleanup() {
    ((${#pids[@]} == 0)) || kill "${pids[@]}" 2>/dev/null || true
    wait
    rm -rf "$work"
}
trap cleanup EXIT
[[ -n $logs ]] && mkdir -p "$logs"

# Each kernel's groups run in two VMs (shards) when two VMs run at once:
# six VMs over two CPUs pack tighter than three, as the newest kernel's run
# alone outlasted two other kernels' runs (docs/vm-runner.md). A group in
# neither list (a new one) runs in the last.
shard_sets=("migration faults" "qemu-kvm qemu-bitmap bpf kvm other")

# passed_in LOG GROUP: the tests that passed in a console log's last group
# if that is GROUP (the group a stopped guest was running: its JSON report
# was never written).
passed_in() {
    awk -v g="$2" '/^== group /{last=$3; ok=""} /^\[       OK \] /{ok=ok $4 "\n"} END{if (last == g) printf "%s", ok}' "$1"
}

run_shard() {  # run_shard K N GROUPS...: one VM; reports in $work/K/reports, logs and status as K/*-N
    local k=$1 n=$2 kout=$work/$1 start rc try g todo left passed newly idle=0 leaps=0
    shift 2
    todo="$*"
    start=$(date +%s)
    mkdir -p "$kout/reports"
    passed=$kout/passed-$n
    : >"$passed"
    # A run cut short by a stopped guest kernel (124, no heartbeat) is
    # resumed from a fresh boot at the first group that has no result (each
    # finished group left GROUP.rc), without the tests of that group that
    # passed before the stop: a nested guest under TCG's emulated SVM can
    # stop the guest kernel for good (docs/vm-runner.md, "When a run
    # hangs"), which says nothing about the tests. Up to four resumptions,
    # as long as each try finishes a test; a try that finished none twice
    # in a row, a run still working at the deadline, or any failure stands.
    # A run whose guest clock leapt (123: the host machine stalled) is void:
    # its groups that did not pass run again from a fresh boot, up to twice.
    for try in 1 2 3 4 5; do
        set +e
        DPDC_VM_PASSED=$(paste -sd: "$passed") \
            tests/vm/run.sh --kernel "$k" --quiet "${run_opts[@]}" --out "$kout/reports" --log "$kout/console-$n.log" \
            -- "$here/run-groups.sh" "$binary" $todo 2>>"$kout/runner-$n.log"
        rc=$?
        set -e
        if ((rc == 123 && leaps < 2)); then
            leaps=$((leaps + 1))
            left=
            for g in $todo; do
                (($(cat "$kout/reports/$g.rc" 2>/dev/null || echo 1) == 0)) && continue
                left+="$g "
                rm -f "$kout/reports/$g.rc" "$kout/reports/$g.json"
            done
            [[ -n $left ]] || { rc=0; break; }
            echo "matrix: kernel $k: the run's results are void ($(grep -h 'vm: kernel' "$kout/runner-$n.log" | tail -1 | sed 's/^vm: kernel [^:]*: //; s/;.*//')); booting it again for group(s) ${left% }" >&2
            mv "$kout/console-$n.log" "$kout/console-$n-leap$leaps.log" 2>/dev/null || true
            todo=${left% }
            continue
        fi
        ((rc == 124 && try < 5)) || break
        grep 'vm: kernel' "$kout/runner-$n.log" | tail -1 | grep -q 'no heartbeat' || break
        left=
        for g in $todo; do [[ -f $kout/reports/$g.rc ]] || left+="$g "; done
        [[ -n $left ]] || break
        # What the cut-short group finished is kept, and reported with it.
        g=${left%% *}
        newly=$(passed_in "$kout/console-$n.log" "$g")
        [[ -z $newly ]] || tee -a "$kout/reports/$g.passed-before-resume" <<<"$newly" >>"$passed"
        if [[ $left == "$todo " && -z $newly ]]; then
            idle=$((idle + 1))
            ((idle < 2)) || break
        else
            idle=0
        fi
        echo "matrix: kernel $k: the run was cut short ($(grep -h 'vm: kernel' "$kout/runner-$n.log" | tail -1 | sed 's/^vm: kernel [^:]*: //')); booting it again for group(s) ${left% }, skipping the $(wc -l <"$passed") test(s) that passed" >&2
        mv "$kout/console-$n.log" "$kout/console-$n-try$try.log" 2>/dev/null || true
        todo=${left% }
    done
    # A group that failed before a resumption fails the shard.
    if ((rc == 0)); then
        for g in $*; do [[ ! -f $kout/reports/$g.rc ]] || (($(cat "$kout/reports/$g.rc") == 0)) || rc=1; done
    fi
    echo "$rc $(($(date +%s) - start))" >"$kout/status-$n"
    grep '^vm: kernel' "$kout/runner-$n.log" | tail -1 | sed "s/^vm:/matrix:/; s/\$/ (groups $*)/" >&2 || true
}

# The units: a kernel and its groups. Listed longest first (the newest
# kernel's are about 1.5x the others', and the first shard the longer), so
# the short ones fill in at the end; the report keeps the list's order.
units=()
all_groups=$("$here/run-groups.sh" --list)
for k in $(tr ',' '\n' <<<"$kernels" | tac); do
    if [[ -n $groups ]]; then
        units+=("$k 1 ${groups//,/ }")
        continue
    fi
    n=0
    placed=
    for members in "${shard_sets[@]}"; do
        n=$((n + 1))
        mine=
        for g in $members; do [[ " $all_groups " == *" $g "* ]] && mine+="$g " && placed+="$g "; done
        if ((n == ${#shard_sets[@]})); then
            for g in $all_groups; do [[ " $placed " == *" $g "* ]] || mine+="$g "; done
        fi
        [[ -n $mine ]] && units+=("$k $n ${mine% }")
    done
done
for u in "${units[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
    read -r k n gs <<<"$u"
    echo "matrix: kernel $k: booting, running groups ${gs// /,}" >&2
    run_shard $u &
    pids+=($!)
done
wait
pids=()
# A kernel's status: the first failing shard's exit, and the shards' seconds.
for k in ${kernels//,/ }; do
    rc=0 secs=0
    for f in "$work/$k"/status-*; do
        read -r r s <"$f"
        ((rc != 0)) || rc=$r
        secs=$((secs + s))
    done
    echo "$rc $secs" >"$work/$k/status"
done

report=0
python3 "$here/matrix-report.py" "$work" "$kernels" "${table:-}" || report=$?
if [[ -n $logs ]]; then
    for k in ${kernels//,/ }; do mkdir -p "$logs/$k"; cp -a "$work/$k/." "$logs/$k/"; done
fi
if ((report != 0)); then
    echo "matrix: FAILED on kernel(s): $(cd "$work" && for k in ${kernels//,/ }; do read -r rc _ <"$k/status"; ((rc == 0)) || printf '%s ' "$k"; done)" >&2
    exit 1
fi
echo "matrix: every group passed on every kernel ($kernels)" >&2
exit 0
