#!/usr/bin/env bash
# run-groups.sh BINARY [GROUP...]: runs inside the VM runner. For each group
# of tests/vm/groups.list (all but host-only, plus "other": every test in no
# group), runs its tests and writes $DPDC_VM_OUT/GROUP.json (GoogleTest's
# report) and GROUP.rc (0 passed with nothing skipped, 1 not), so that a run
# cut short can be resumed at the first group without one.
# Exit status 0 only if every group passed with nothing skipped.
# run-groups.sh --list prints the groups it runs by default, in order.
# DPDC_VM_PASSED (test names, colon-separated) are tests that passed in an
# earlier boot of a run cut short (matrix.sh resumes one): they are not run
# again.
# A group that runs past DPDC_VM_GROUP_TIMEOUT seconds (default 1200; the
# longest, migration, took 280-700 s) is stopped and fails, so the groups
# after it still run and the report names the test that hung.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=$1
shift
group_timeout=${DPDC_VM_GROUP_TIMEOUT:-1200}

declare -A filter settings
order=()
while read -r name f vars; do
    [[ -z $name || $name == \#* ]] && continue
    filter[$name]=$f
    settings[$name]=$vars
    [[ $name != host-only ]] && order+=("$name")
done <"$here/groups.list"
# The qemu-kvm group reruns, under KVM, tests that host-only runs under TCG:
# "other" is what no filter names.
all_named=$(IFS=:; echo "${filter[*]}")
filter[other]="*-$all_named"
order+=(other)
[[ $binary == --list ]] && { echo "${order[*]}"; exit 0; }
(($# > 0)) && order=("$@")
out=${DPDC_VM_OUT:?run-groups.sh runs inside tests/vm/run.sh}

# What a hung group was doing: every process with its state and where in the
# kernel it sleeps, and the kernel stacks of those in the test's process tree.
show_hang() {
    echo "run-groups: processes when group $1 timed out:" >&2
    ps -eo pid,ppid,stat,etimes,wchan:28,args --sort=pid | grep -v ' \[' | sed 's/^/run-groups:   /' >&2
    local p
    for p in $(ps -eo pid= --ppid "$2") "$2"; do
        for t in /proc/$p/task/*; do
            [[ -r $t/stack ]] || continue
            echo "run-groups: kernel stack of $(cat "$t/comm" 2>/dev/null) (task ${t##*/} of $p):" >&2
            sed 's/^/run-groups:     /' "$t/stack" >&2
        done
    done 2>/dev/null
}

# The filter of group $1 without the tests in DPDC_VM_PASSED: GoogleTest
# takes one list of negative patterns, after the first "-".
filter_of() {
    local f=${filter[$1]}
    [[ -n ${DPDC_VM_PASSED:-} ]] || { echo "$f"; return; }
    if [[ $f == *-* ]]; then echo "$f:$DPDC_VM_PASSED"; else echo "$f-$DPDC_VM_PASSED"; fi
}

uname -r >"$out/release"
status=0
for g in "${order[@]}"; do
    [[ -v filter[$g] ]] || { echo "run-groups: no group '$g' in tests/vm/groups.list" >&2; exit 2; }
    # "other" may be empty: GoogleTest then runs nothing and passes.
    echo "== group $g"
    # shellcheck disable=SC2086 # VAR=value words
    env ${settings[$g]:-} "$binary" --gtest_filter="$(filter_of "$g")" --gtest_output="json:$out/$g.json" &
    pid=$!
    started=$SECONDS
    while kill -0 $pid 2>/dev/null && ((SECONDS - started < group_timeout)); do sleep 1; done
    if kill -0 $pid 2>/dev/null; then
        echo "run-groups: group $g timed out after $group_timeout s" >&2
        show_hang "$g" $pid
        pkill -KILL -P $pid 2>/dev/null
        kill -KILL $pid 2>/dev/null
    fi
    wait $pid
    rc=$?
    grep -q '"result": "SKIPPED"' "$out/$g.json" 2>/dev/null && { echo "run-groups: group $g skipped tests inside the VM" >&2; rc=1; }
    ((rc == 0)) || status=1
    echo $((rc == 0 ? 0 : 1)) >"$out/$g.rc"
done
exit $status
