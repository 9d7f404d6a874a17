#!/usr/bin/env bash
# Regenerates the QEMU seeds of the stream targets: three small paused QEMU
# guests (TCG) migrated to a file by QEMU itself, each cropped by the seed
# writer (qemu_crop.h) into fuzz/corpus/stream_{inspect,destination}/:
#   qemu-none            -machine none, 2 MiB of RAM
#   qemu-pc              -machine pc, 2 MiB (its ROMs, every pc device)
#   qemu-pc-ignore-shared  the same with its RAM in a shared memfd and
#                        x-ignore-shared on, as the engine's switchover asks
#   fuzz/seeds/qemu_streams.sh BUILD_DIR   (a DPDC_FUZZ build, for the writer)
set -euo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR}")
cd "$(dirname "$0")/../.."
corpus=$PWD/fuzz/corpus
work=$(mktemp -d "${TMPDIR:-/tmp}/dpdc-qemu-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT

# migrate NAME CAPABILITY QEMU-ARGS...: QEMU paused (-S) migrates to $work/NAME.
migrate() {
  local name=$1 cap=$2
  shift 2
  qemu-system-x86_64 "$@" -accel tcg -nodefaults -display none -S \
    -qmp "unix:$work/qmp.sock,server=on,wait=off" &
  local pid=$!
  for _ in $(seq 100); do [[ -S $work/qmp.sock ]] && break; sleep 0.1; done
  python3 - "$work/qmp.sock" "$cap" "$work/$name" <<'PY'
import json, socket, sys, time
sock, cap, out = sys.argv[1:]
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rw")
def reply():
    while True:
        msg = json.loads(f.readline())
        if "event" not in msg:
            return msg
def execute(cmd, args=None):
    f.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})}) + "\n")
    f.flush()
    msg = reply()
    if "error" in msg:
        sys.exit(f"qemu_streams: {cmd}: {msg['error']['desc']}")
    return msg["return"]
reply()
execute("qmp_capabilities")
if cap:
    execute("migrate-set-capabilities", {"capabilities": [{"capability": cap, "state": True}]})
execute("migrate", {"uri": f"exec:cat > {out}"})
for _ in range(300):
    status = execute("query-migrate").get("status")
    if status in ("completed", "failed"):
        break
    time.sleep(0.1)
execute("quit")
if status != "completed":
    sys.exit(f"qemu_streams: migration {status}")
PY
  wait "$pid"
  rm -f "$work/qmp.sock"
  "$build/fuzz/fuzz_seed_writer" --crop "$work/$name" "$corpus" "$name"
  echo "qemu_streams: $name: $(stat -c %s "$work/$name") bytes from QEMU, $(stat -c %s "$corpus/stream_inspect/$name") cropped"
}

migrate qemu-none "" -machine none -m 2M
migrate qemu-pc "" -machine pc -m 2M
migrate qemu-pc-ignore-shared x-ignore-shared -object memory-backend-memfd,id=pc.ram,size=2M,share=on \
  -machine pc,memory-backend=pc.ram -m 2M
