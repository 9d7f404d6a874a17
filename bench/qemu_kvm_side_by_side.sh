#!/usr/bin/env bash
# bench/qemu_side_by_side.py --accel kvm (QEMU's own migrate against the
# engine's policies with each dirty source) inside the VM runner, where KVM
# is real (nested, under TCG) whatever the host has; prints its Markdown.
#   bench/qemu_kvm_side_by_side.sh [qemu_side_by_side.py options]
#   e.g. bench/qemu_kvm_side_by_side.sh --workload idle --caps 50
# Environment: KERNEL (6.12, a tests/vm/kernels.list name), TIMEOUT (3600,
#              seconds for the whole VM run), OUT (the directory the table is
#              kept in, with each run's full report under reports/; default
#              a new one under $TMPDIR), DPDC_KERNEL_CACHE
#              (the runner's kernel cache, read by tests/vm/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/dpdc-kvm-side-by-side.XXXXXX")}
# The guest's root is the host's, read-only: only $DPDC_VM_OUT comes back.
# shellcheck disable=SC2016  # expanded by the bash inside the guest
tests/vm/run.sh --kernel "${KERNEL:-6.12}" --out "$out" --timeout "${TIMEOUT:-3600}" -- \
    bash -c 'python3 bench/qemu_side_by_side.py --accel kvm --reports "$DPDC_VM_OUT/reports" "$@" --markdown >"$DPDC_VM_OUT/side_by_side.md"' \
    qemu_side_by_side "$@"
cat "$out/side_by_side.md"
