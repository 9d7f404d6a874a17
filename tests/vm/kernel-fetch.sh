#!/usr/bin/env bash
# kernel-fetch.sh NAME: makes the matrix kernel NAME (tests/vm/kernels.list)
# available unpacked in the kernel cache and prints its directory, which holds
#   vmlinuz   the kernel image
#   release   its `uname -r`
#   root/     the unpacked packages (modules under root/lib/modules/RELEASE,
#             with modules.dep made by depmod)
#
# Packages come from the Debian mirror named in this machine's apt sources,
# through a private apt configuration under the cache: the machine's own apt
# state is neither read for packages nor changed. The cache
# (DPDC_KERNEL_CACHE, default ~/.cache/dpdc/kernels) is reused across runs,
# and locked while one of them changes it; package lists are refreshed when
# older than six hours.
#
# Exit status: 0 ok; 2 bad usage or unknown name; 3 the kernel cannot be had
# (no mirror, package missing, download failed), with the reason on stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${DPDC_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dpdc/kernels}

die() { echo "kernel-fetch: $2" >&2; exit "$1"; }

[[ $# -eq 1 ]] || die 2 "usage: kernel-fetch.sh NAME (one of: $(awk '!/^#/ && NF {printf "%s ", $1}' "$here/kernels.list"))"
name=$1
read -r _ suites package _ < <(awk -v n="$name" '!/^#/ && $1 == n' "$here/kernels.list") ||
  die 2 "no kernel '$name' in tests/vm/kernels.list (names: $(awk '!/^#/ && NF {printf "%s ", $1}' "$here/kernels.list"))"

# The machine's Debian mirrors, from its apt sources (deb822 .sources files and
# one-line sources.list): the URI serving a -security suite, and the one
# serving the others.
source_lines() {  # "URI SUITE" for every suite the machine's apt sources name
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true
  } | awk '
      /^URIs:/   { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) print uri, $i }
      /^$/       { uri = "" }'
  {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
  } | awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i, $(i + 1) }'
}

mirror_for() {  # mirror_for SUITE
  local want=main
  [[ $1 == *-security ]] && want=security
  source_lines | while read -r uri suite; do
    [[ -n $uri && $uri == http* ]] || continue
    if [[ $want == security ]]; then [[ $suite == *-security ]] && { echo "$uri"; break; }
    else [[ $suite != *-security ]] && { echo "$uri"; break; }; fi
  done
}

aptdir=$cache/apt/${suites//,/+}
mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial" "$cache/debs" "$cache/kernels"
# Runs at once (two matrices, a matrix and a demo) share the cache: one at a
# time updates lists and unpacks, the others wait and then find it done.
exec 9>"$cache/.lock"
flock 9
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || die 3 "$keyring is missing: install debian-archive-keyring"
: >"$aptdir/sources.list.new"
for suite in ${suites//,/ }; do
  uri=$(mirror_for "$suite" || true)
  [[ -n $uri ]] || die 3 "this machine's apt sources name no Debian mirror for suite $suite; add one to /etc/apt/sources.list.d/"
  echo "deb [signed-by=$keyring] $uri $suite main" >>"$aptdir/sources.list.new"
done
mv "$aptdir/sources.list.new" "$aptdir/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$aptdir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir" -o Dir::State::Status=/dev/null
  -o Debug::NoLocking=true -o APT::Sandbox::User=root)

stamp=$aptdir/lists/.updated
if [[ ! -e $stamp || -n $(find "$stamp" -mmin +360) ]]; then
  apt-get "${apt_opts[@]}" update >"$aptdir/update.log" 2>&1 ||
    die 3 "apt-get update for $suites failed: $(grep -E '^(E|W):' "$aptdir/update.log" | head -1)"
  touch "$stamp"
fi

# The versioned kernel packages a (meta) package leads to: linux-image-X
# itself, and from 6.19 on the linux-binary-X, linux-modules-X and
# linux-base-X it depends on. A meta package (one that depends on a versioned
# linux-image) is followed, not fetched.
kernel_deps() {  # kernel_deps PACKAGE: its versioned kernel dependencies
  apt-cache "${apt_opts[@]}" depends "$1" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-(image|binary|modules|base)-[0-9]/ {print $2}'
}
resolve() {  # resolve PACKAGE: prints "name=version" lines, the image first
  local pkg=$1 dep deps
  deps=$(kernel_deps "$pkg")
  if [[ $pkg =~ ^linux-(image|binary|modules|base)-[0-9] ]] && ! grep -q '^linux-image-' <<<"$deps"; then
    local ver
    ver=$(apt-cache "${apt_opts[@]}" policy "$pkg" | awk '/Candidate:/ {print $2}')
    [[ -n $ver && $ver != "(none)" ]] || die 3 "package $pkg is not in $suites"
    echo "$pkg=$ver"
  fi
  for dep in $deps; do resolve "$dep"; done
}
mapfile -t pkgs < <(resolve "$package" | awk '!seen[$0]++')
((${#pkgs[@]} > 0)) || die 3 "$package in $suites leads to no kernel package (apt-cache depends $package shows none)"
image=${pkgs[0]}  # linux-image-X=VERSION
dir=$cache/kernels/${image//=/_}
dir=${dir//[:~+]/-}

if [[ ! -e $dir/.complete ]]; then
  rm -rf "$dir"
  mkdir -p "$dir/root"
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}" >"$dir/download.log" 2>&1) ||
    die 3 "downloading ${pkgs[*]} failed: $(grep -E '^(E|W):' "$dir/download.log" | head -1)"
  for p in "${pkgs[@]}"; do
    deb=$(ls "$cache/debs/${p%%=*}_"*"_amd64.deb" 2>/dev/null | sort -V | tail -1)
    [[ -n $deb ]] || die 3 "apt-get download left no .deb for $p"
    dpkg -x "$deb" "$dir/root"
  done
  # Trixie's packages keep modules in /usr/lib/modules (merged /usr).
  if [[ ! -d $dir/root/lib/modules && -d $dir/root/usr/lib/modules ]]; then
    ln -s usr/lib "$dir/root/lib"
  fi
  release=$(ls "$dir/root/lib/modules" | head -1)
  [[ -n $release ]] || die 3 "${pkgs[*]} hold no modules"
  vmlinuz=$(ls "$dir/root/boot/vmlinuz-"* "$dir/root/usr/lib/linux/vmlinuz-"* "$dir/root/usr/lib/modules/$release/vmlinuz" 2>/dev/null | head -1 || true)
  [[ -n $vmlinuz ]] || die 3 "${pkgs[*]} hold no vmlinuz"
  ln -s "${vmlinuz#"$dir/"}" "$dir/vmlinuz"
  echo "$release" >"$dir/release"
  echo "${pkgs[*]}" >"$dir/packages"
  depmod -b "$dir/root" "$release" 2>"$dir/depmod.log" || die 3 "depmod for $release failed: $(head -1 "$dir/depmod.log")"
  # The .debs are unpacked; keep only the newest of each name.
  rm -f "$dir/download.log"
  touch "$dir/.complete"
fi
echo "$dir"
