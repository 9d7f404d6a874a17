#!/usr/bin/env bash
# run-groups.sh BINARY [GROUP...]: runs inside the VM runner. For each group
# of tests/vm/groups.list (all but host-only, plus "other": every test in no
# group), runs its tests and writes $DPDC_VM_OUT/GROUP.json (GoogleTest's
# report). Exit status 0 only if every group passed with nothing skipped.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=$1
shift
out=${DPDC_VM_OUT:?run-groups.sh runs inside tests/vm/run.sh}

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
(($# > 0)) && order=("$@")

uname -r >"$out/release"
status=0
for g in "${order[@]}"; do
    [[ -v filter[$g] ]] || { echo "run-groups: no group '$g' in tests/vm/groups.list" >&2; exit 2; }
    # "other" may be empty: GoogleTest then runs nothing and passes.
    echo "== group $g"
    # shellcheck disable=SC2086 # VAR=value words
    env ${settings[$g]:-} "$binary" --gtest_filter="${filter[$g]}" --gtest_output="json:$out/$g.json" || status=1
    grep -q '"result": "SKIPPED"' "$out/$g.json" 2>/dev/null && { echo "run-groups: group $g skipped tests inside the VM" >&2; status=1; }
done
exit $status
