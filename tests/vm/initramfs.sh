#!/usr/bin/env bash
# initramfs.sh KERNEL_DIR OUT: writes the VM runner's initramfs for the
# kernel that kernel-fetch.sh unpacked in KERNEL_DIR: static busybox, the
# runner's /init, and the modules it loads (virtio PCI, 9p over virtio,
# overlayfs, KVM for AMD) with their dependencies in load order, as modprobe
# resolves them from the kernel's own modules.dep. Modules the kernel has
# built in are skipped; compressed ones are unpacked (busybox insmod loads
# plain .ko only).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[[ $# -eq 2 ]] || { echo "usage: initramfs.sh KERNEL_DIR OUT" >&2; exit 2; }
kdir=$1 out=$2
release=$(cat "$kdir/release")
wanted=(virtio_pci 9pnet_virtio 9p overlay kvm_amd)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,modules}
cp "$(command -v busybox)" "$stage/bin/busybox"
{ ldd "$stage/bin/busybox" 2>&1 || true; } | grep -q 'not a dynamic' ||
    { echo "initramfs: $(command -v busybox) is not static; install busybox-static" >&2; exit 1; }
cp "$here/init" "$stage/init"
chmod 0755 "$stage/init" "$stage/bin/busybox"

n=0
: >"$stage/modules/order"
while read -r verb path _; do
    [[ $verb == insmod ]] || continue  # "builtin NAME": nothing to load
    name=$(basename "$path")
    name=${name%.xz}
    name=${name%.zst}
    grep -qx "[0-9]*-$name" "$stage/modules/order" && continue
    file=$(printf '%02d-%s' "$n" "$name")
    case $path in
    *.xz) xz -dc "$path" >"$stage/modules/$file" ;;
    *.zst) zstd -qdc "$path" >"$stage/modules/$file" ;;
    *) cp "$path" "$stage/modules/$file" ;;
    esac
    echo "$file" >>"$stage/modules/order"
    n=$((n + 1))
done < <(modprobe -d "$kdir/root" -S "$release" --show-depends -a "${wanted[@]}")

for m in "${wanted[@]}"; do
    grep -q -- "-${m//_/[-_]}\.ko$" "$stage/modules/order" ||
        grep -qE "/${m//_/[-_]}\.ko" "$kdir/root/lib/modules/$release/modules.builtin" ||
        { echo "initramfs: kernel $release has no module $m" >&2; exit 1; }
done

(cd "$stage" && find . | cpio -o -H newc --quiet) >"$out"
