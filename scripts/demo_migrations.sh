#!/usr/bin/env bash
# The main job's migrations (scripts/demo.sh runs this on a KVM host or
# inside the VM runner): dpdc-vm with the hotcold workload, observed by
# dpdc-engine for DPDC_DEMO_SECONDS (default 5), then live-migrated to a
# second dpdc-vm once per policy, capped at DPDC_DEMO_BANDWIDTH MB/s (default
# 100), and a side-by-side table. Needs a built tree and /dev/kvm.
# Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [[ -c /dev/kvm ]] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
  echo "demo: /dev/kvm cannot be opened here; run scripts/demo.sh, which then uses the VM runner" >&2
  exit 3
fi

tmp=$(mktemp -d /tmp/dpdc-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

machine=(-m 256M -smp 1 -accel kvm,dirty-ring-size=4096)
start_vm() {  # name, extra args...; sets $vm
  local name=$1
  shift
  build/bin/dpdc-vm "${machine[@]}" -qmp "unix:$tmp/$name.qmp,server=on,wait=off" "$@" 2>>"$tmp/$name.log" &
  vm=$!
  pids+=("$vm")
  for _ in $(seq 100); do [[ -S "$tmp/$name.qmp" ]] && return 0; sleep 0.1; done
  echo "demo: dpdc-vm ($name) did not come up: $(cat "$tmp/$name.log")" >&2
  exit 1
}

echo "== observe: dpdc-vm, 256 MiB, hotcold workload"
start_vm observed --workload hotcold,hot=10,writes=90
build/bin/dpdc-engine attach --pid "$vm" --observe --seconds "${DPDC_DEMO_SECONDS:-5}"
kill -TERM "$vm"; wait "$vm" 2>/dev/null || true

for policy in xen qemu dpdc; do
  echo "== live migration with --policy $policy (cap ${DPDC_DEMO_BANDWIDTH:-100} MB/s)"
  start_vm "dst-$policy" -incoming "unix:$tmp/mig-$policy.sock"
  dst=$vm
  start_vm "src-$policy" --workload hotcold,hot=10,writes=90
  src=$vm
  sleep 2  # let the guest build up a dirty history
  build/bin/dpdc-engine attach --pid "$src" --to "unix:$tmp/mig-$policy.sock" --policy "$policy" \
    --max-bandwidth "${DPDC_DEMO_BANDWIDTH:-100}" --json >"$tmp/$policy.json"
  kill -TERM "$src" "$dst"; wait "$src" "$dst" 2>/dev/null || true
done

python3 - "$tmp" <<'PY'
import json, sys
print(f"{'policy':8} {'data MiB':>10} {'rounds':>7} {'total ms':>10} {'downtime ms':>12} {'precision':>10}")
for p in ("xen", "qemu", "dpdc"):
    r = json.load(open(f"{sys.argv[1]}/{p}.json"))
    t = r["totals"]
    print(f"{p:8} {r['wire_bytes'] / 2**20:10.1f} {t['rounds']:7d} {t['total_ms']:10.0f} "
          f"{t['stop_to_last_page_ms']:12.0f} {r['prediction']['precision']:10.2f}")
print("downtime: from the source's stop to the last byte sent (the engine's view)")
PY
