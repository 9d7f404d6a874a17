#!/usr/bin/env bash
# Policy evidence on synthetic traces: for each dpdc-vm workload, a trace of
# a 256 MiB guest (dpdc-engine synth), replayed by dpdc-engine simulate with
# xen, qemu and dpdc at two bandwidth caps. Prints a Markdown table.
# "wasted sends" are sends a later send of the same page made useless (the
# pages sent beyond one per guest page).
#   bench/policies.sh [build-dir]     (default build)
# Environment: PAGES (65536), SECONDS_LEN (60), WRITES (20000 writes/s),
#              START (10 s of history before the migration), CAPS ("25 50" MB/s),
#              WORKLOADS ("hotcold zipf seq idle ab", dpdc-vm --workload specs),
#              SEED (synth's random seed, 1),
#              TRACE_DIR (replay DIR/<name>.trace, recorded ones, for each
#              name in WORKLOADS instead of synthesizing; see bench/qemu_traces.sh)
set -euo pipefail
build=${1:-build}
engine="$build/bin/dpdc-engine"
pages=${PAGES:-65536}
len=${SECONDS_LEN:-60}
writes=${WRITES:-20000}
start=${START:-10}
caps=${CAPS:-"25 50"}
workloads=${WORKLOADS:-"hotcold zipf seq idle ab"}
seed=${SEED:-1}
tmp=$(mktemp -d /tmp/dpdc-policies.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "| workload | cap MB/s | policy | rounds | data MiB | vs xen | vs qemu | wasted sends | total s | downtime ms |"
echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for wl in $workloads; do
  if [ -n "${TRACE_DIR:-}" ]; then
    cp "$TRACE_DIR/$wl.trace" "$tmp/w.trace"
  else
    "$engine" synth --workload "$wl" --pages "$pages" --seconds "$len" --writes-per-s "$writes" --seed "$seed" \
      --out "$tmp/w.trace" >/dev/null
  fi
  for cap in $caps; do
    "$engine" simulate --trace "$tmp/w.trace" --bandwidth "$cap" --start "$start" --json >"$tmp/r.json"
    python3 - "$wl" "$cap" "$tmp/r.json" <<'PY'
import json, sys
wl, cap, path = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {r["policy"]: r for r in json.load(open(path))["runs"]}
for name in ("xen", "qemu", "dpdc"):
    r = runs[name]; t = r["totals"]
    b = t["bytes"]
    print(f"| {wl} | {cap} | {name} | {t['rounds']} | {b/2**20:.1f} | {b/runs['xen']['totals']['bytes']:.3f} | "
          f"{b/runs['qemu']['totals']['bytes']:.3f} | {r['prediction']['sends_wasted']} | {t['total_ms']/1000:.2f} | "
          f"{r['estimated_downtime_ms']:.0f} |")
PY
  done
done
