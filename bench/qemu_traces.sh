#!/usr/bin/env bash
# Policy evidence on traces recorded from live guests: each dpdc-guest
# workload runs under an unmodified QEMU (TCG here, so the trace is recorded
# by content scans: dpdc-engine attach --record), then bench/policies.sh
# replays the traces through xen, qemu and dpdc at two caps. Markdown table.
#   bench/qemu_traces.sh [build-dir]     (default build)
# Environment: RAM (256, MiB), RECORD_S (20), WARMUP_S (2), START (10),
#              CAPS ("25 50"), and per workload the -append text (the
#              defaults pace the guest for TCG with delay=).
set -euo pipefail
build=${1:-build}
engine="$build/bin/dpdc-engine"
ram=${RAM:-256}
record_s=${RECORD_S:-20}
warmup_s=${WARMUP_S:-2}
declare -A spec=(
  [hotcold]=${HOTCOLD:-hotcold,hot=10,writes=90,pages=16384,delay=200}
  [zipf]=${ZIPF:-zipf,pages=16384,delay=200}
  [seq]=${SEQ:-seq,pages=16384,delay=2000}
  [ab]=${AB:-ab,pages=16384,delay=2000}
  [idle]=${IDLE:-idle}
)
dir=$(mktemp -d /tmp/dpdc-qemu-traces.XXXXXX)
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
for wl in hotcold zipf seq ab idle; do
  qemu-system-x86_64 -display none -nodefaults -accel tcg \
    -object "memory-backend-memfd,id=pc.ram,size=${ram}M,share=on" -M pc,memory-backend=pc.ram -m "${ram}M" \
    -kernel "$build/bin/dpdc-guest.img" -append "${spec[$wl]}" \
    -qmp "unix:$dir/qmp.sock,server=on,wait=off" &
  qemu_pid=$!
  sleep "$warmup_s"
  "$engine" attach --pid "$qemu_pid" --record "$dir/$wl.trace" --seconds "$record_s" >&2
  kill "$qemu_pid"; wait "$qemu_pid" 2>/dev/null || true
  qemu_pid=
done
for wl in hotcold zipf seq ab idle; do echo "- $wl: \`${spec[$wl]}\`"; done
echo
TRACE_DIR="$dir" WORKLOADS="hotcold zipf seq ab idle" bash "$(dirname "$0")/policies.sh" "$build"
