#!/usr/bin/env bash
# The main job: installs what is missing, builds, then runs
# scripts/demo_migrations.sh on the built-in VM (dpdc-vm, hotcold workload:
# 10% of the pages take 90% of the writes): the observe output for a few
# seconds, then a live migration to a second dpdc-vm once per policy (xen,
# qemu, dpdc) and a side-by-side table.
# On a host whose /dev/kvm opens it runs here. Without one it runs the same
# thing inside the VM runner (tests/vm/run.sh: a Debian kernel under QEMU TCG
# with a real KVM inside), which adds about a minute of boot and emulation.
#   DPDC_DEMO_SECONDS   observe time (default 5)
#   DPDC_DEMO_BANDWIDTH migration bandwidth cap in MB/s (default 100)
#   DPDC_DEMO_KERNEL    the VM runner's kernel when there is no /dev/kvm (default 6.12)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh

# -c first: a redirection to a missing /dev/kvm would create a plain file.
if [[ -c /dev/kvm ]] && (exec 3<>/dev/kvm) 2>/dev/null; then
  exec ./scripts/demo_migrations.sh
fi
echo "demo: /dev/kvm cannot be opened on this host; running the demo inside the VM runner" >&2
echo "demo: (kernel ${DPDC_DEMO_KERNEL:-6.12} under QEMU TCG, real KVM inside; guests run emulated, so slower)" >&2
exec tests/vm/run.sh --kernel "${DPDC_DEMO_KERNEL:-6.12}" -- ./scripts/demo_migrations.sh
