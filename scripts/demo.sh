#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts dpdc-vm with the
# hotcold workload, attaches dpdc-engine to it and shows the observe output
# for a few seconds, then stops everything it started.
#   DPDC_DEMO_SECONDS  how long to observe (default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh

# -c first: a redirection to a missing /dev/kvm would create a plain file.
if ! [[ -c /dev/kvm ]] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
  echo "demo: /dev/kvm cannot be opened on this host; the demo runs a KVM guest and needs KVM" >&2
  exit 3
fi

tmp=$(mktemp -d /tmp/dpdc-demo.XXXXXX)
vm=""
cleanup() {
  if [[ -n "$vm" ]] && kill -0 "$vm" 2>/dev/null; then
    kill -TERM "$vm" 2>/dev/null || true
    wait "$vm" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "demo: starting dpdc-vm (256 MiB, hotcold workload: 10% of pages take 90% of the writes)"
build/bin/dpdc-vm -m 256M -smp 1 -accel kvm,dirty-ring-size=4096 \
  -qmp "unix:$tmp/qmp.sock,server=on,wait=off" --workload hotcold,hot=10,writes=90 &
vm=$!
for _ in $(seq 100); do [[ -S "$tmp/qmp.sock" ]] && break; sleep 0.1; done
[[ -S "$tmp/qmp.sock" ]] || { echo "demo: dpdc-vm did not come up" >&2; exit 1; }

echo "demo: dpdc-engine attach --pid $vm --observe --seconds ${DPDC_DEMO_SECONDS:-8}"
build/bin/dpdc-engine attach --pid "$vm" --observe --seconds "${DPDC_DEMO_SECONDS:-8}"
echo "demo: done; stopping dpdc-vm"
