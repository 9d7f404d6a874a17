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

run_kernel() {  # run_kernel K: one VM, its reports and status under $work/K
    local k=$1 kout=$work/$1 start rc try g todo
    start=$(date +%s)
    todo=${groups//,/ }
    [[ -n $todo ]] || todo=$("$here/run-groups.sh" --list)
    mkdir -p "$kout/reports"
    # A run cut short by a stopped guest kernel (124, no heartbeat) is
    # resumed from a fresh boot at the first group that has no result (each
    # finished group left GROUP.rc): a nested guest under TCG's emulated SVM
    # can stop the guest kernel for good (docs/vm-runner.md, "When a run
    # hangs"), which says nothing about the tests. Two resumptions at most;
    # a third stop, or any failure, stands.
    for try in 1 2 3; do
        set +e
        tests/vm/run.sh --kernel "$k" --quiet "${run_opts[@]}" --out "$kout/reports" --log "$kout/console.log" \
            -- "$here/run-groups.sh" "$binary" $todo 2>>"$kout/runner.log"
        rc=$?
        set -e
        ((rc == 124 && try < 3)) || break
        # Only a guest kernel that stopped is booted again; one still
        # working at the deadline is too slow, and that stands.
        grep 'vm: kernel' "$kout/runner.log" | tail -1 | grep -q 'no heartbeat' || break
        local left=
        for g in $todo; do [[ -f $kout/reports/$g.rc ]] || left+="$g "; done
        [[ -n $left ]] || break
        echo "matrix: kernel $k: the run was cut short ($(grep -h 'vm: kernel' "$kout/runner.log" | tail -1 | sed 's/^vm: kernel [^:]*: //')); booting it again for group(s) ${left% }" >&2
        cp "$kout/console.log" "$kout/console-try$try.log" 2>/dev/null || true
        todo=$left
    done
    # A group that failed before a resumption fails the kernel.
    if ((rc == 0)); then
        for g in $(cat "$kout"/reports/*.rc 2>/dev/null); do ((g == 0)) || rc=1; done
    fi
    echo "$rc $(($(date +%s) - start))" >"$kout/status"
    grep '^vm: kernel' "$kout/runner.log" | tail -1 | sed 's/^vm:/matrix:/' >&2 || true
}

# Started last-listed first: the newest kernel's run is the longest (about
# 1.5x the others', docs/vm-runner.md), so the others run beside it rather
# than after it. The report keeps the list's order.
for k in $(tr ',' '\n' <<<"$kernels" | tac); do
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
    echo "matrix: kernel $k: booting, running groups ${groups:-(all)}" >&2
    run_kernel "$k" &
    pids+=($!)
done
wait
pids=()

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
