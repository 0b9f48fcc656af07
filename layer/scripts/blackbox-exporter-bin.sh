#!/usr/bin/env bash
# Prints the path of a blackbox_exporter binary to put in the layer, for ARCH
# (x86_64 or arm64; x86_64 by default).
#
# Where it comes from:
#   1. BLACKBOX_EXPORTER_BIN_X86_64 / BLACKBOX_EXPORTER_BIN_ARM64 (per architecture), else
#      BLACKBOX_EXPORTER_BIN: a local binary, checked to be an ELF file for ARCH.
#   2. By BLACKBOX_PREFER:
#      local (default, `make run`): one on the PATH, Debian's package (installed with apt when
#        missing and possible), then the pinned upstream release.
#      upstream (`make layer`): the pinned upstream release, then Debian's package.
#      debian (`make test`, CI): Debian's package only, no download from the internet.
#   Debian's package for the other architecture (arm64 on an x86_64 machine) is fetched with
#   `apt-get download` and unpacked with `dpkg-deb -x` (layer/scripts/debian-package-root.sh).
#   The upstream release is checked against the SHA-256 sums pinned below before it is used.
#
# BLACKBOX_INFO_FILE=path: also writes shell-style lines there, read by build-layer.sh:
#   blackbox_bin=… blackbox_version=… blackbox_source=upstream|debian|local
#   blackbox_license=… blackbox_notice=…   (the LICENSE and NOTICE files to ship with it)
set -euo pipefail

arch=${ARCH:-x86_64}
version=${BLACKBOX_EXPORTER_VERSION:-0.28.0}
here=$(cd "$(dirname "$0")" && pwd)
cache=${BLACKBOX_CACHE_DIR:-$(cd "$here/../.." && pwd)/target/blackbox-download}
prefer=${BLACKBOX_PREFER:-local}
release_base=${BLACKBOX_RELEASE_BASE:-https://github.com/prometheus/blackbox_exporter/releases/download}

fail() { echo "blackbox-exporter-bin: $*" >&2; exit 1; }
note() { echo "blackbox-exporter-bin: $*" >&2; }

case "$arch" in
  x86_64) go_arch=amd64 elf_machine=3e deb_arch=amd64 ;;
  arm64) go_arch=arm64 elf_machine=b7 deb_arch=arm64 ;;
  *) fail "ARCH=$arch: expected x86_64 or arm64" ;;
esac
case "$prefer" in local | upstream | debian) ;; *) fail "BLACKBOX_PREFER=$prefer: expected local, upstream or debian" ;; esac

# SHA-256 of the upstream release tarballs, pinned. The release's own sha256sums.txt could not
# be reached where these were written; they are what independent public build recipes pin for
# the same tarballs, and they agree:
#   0.28.0: openstack/kolla kolla/common/sources.py (commit ac049f84, 2026-03-12) and
#           boxcutter/oci prometheus/blackbox-exporter/docker-bake.hcl (commit 22bb8466,
#           2025-12-30, checked there by `sha256sum -c` in its image build), and a Homebrew
#           formula (pgsty/homebrew-infra Formula/blackbox-exporter.rb at 0.28.0).
#   0.25.0: openstack/kolla and boxcutter/oci (commit cf728a01).
# Check them against the release's sha256sums.txt when bumping the version. Another version:
# set BLACKBOX_EXPORTER_VERSION and BLACKBOX_EXPORTER_SHA256 (of the tarball for ARCH), or
# leave the sum unset to check against the release's sha256sums.txt.
pinned_sha256() {
  case "$1" in
    0.28.0/amd64) echo caf5d242fb1cf6d5cb678f3f799f22703d4fafea26b03dcbbd7e1f1825e06329 ;;
    0.28.0/arm64) echo 63312be0983d85e5109710a7dc93df3051157ae581853fa3655d171cc1b2806e ;;
    0.25.0/amd64) echo c651ced6405c5e0cd292a400f47ae9b34f431f16c7bb098afbcd38f710144640 ;;
    0.25.0/arm64) echo 46ec5a54a41dc1ea8a8cecee637e117de4807d3b0976482a16596e82e79ac484 ;;
  esac
}

default_license=/usr/share/common-licenses/Apache-2.0
default_notice=$(cd "$here/.." && pwd)/blackbox/NOTICE

# The ELF e_machine of a file, as two hex digits (3e x86_64, b7 aarch64), or nothing.
elf_machine_of() {
  [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] || return 0
  od -An -tx1 -j 18 -N 1 "$1" | tr -d ' \n'
}

# Runs a binary for ARCH to ask its version: natively, or under qemu-user with ROOT as its
# library root. Prints "unknown" when it cannot be run.
version_of() {
  local bin=$1 root=${2:-} out=""
  if [ "$(elf_machine_of "$bin")" = "$(elf_machine_of /bin/sh)" ]; then
    out=$("$bin" --version 2>&1 || true)
  elif [ "$arch" = arm64 ] && command -v qemu-aarch64-static >/dev/null; then
    out=$(qemu-aarch64-static ${root:+-L "$root"} "$bin" --version 2>&1 || true)
  fi
  out=$(sed -n 's/^blackbox_exporter, version \([^ ]*\).*/\1/p' <<<"$out" | head -n 1)
  echo "${out:-unknown}"
}

done_with() { # bin version source license notice
  [ -x "$1" ] || fail "$1 is not an executable file"
  local machine
  machine=$(elf_machine_of "$1")
  [ "$machine" = "$elf_machine" ] || fail "$1 is not an ELF binary for $arch (e_machine ${machine:-none}, want $elf_machine)"
  if [ -n "${BLACKBOX_INFO_FILE:-}" ]; then
    printf 'blackbox_bin=%q\nblackbox_version=%q\nblackbox_source=%q\nblackbox_license=%q\nblackbox_notice=%q\n' \
      "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" "$2" "$3" "$4" "$5" >"$BLACKBOX_INFO_FILE"
  fi
  echo "$1"
  exit 0
}

# 1. An explicit binary.
arch_var=BLACKBOX_EXPORTER_BIN_$(tr '[:lower:]' '[:upper:]' <<<"$arch")
for var in "$arch_var" BLACKBOX_EXPORTER_BIN; do
  bin=${!var:-}
  [ -n "$bin" ] || continue
  [ -x "$bin" ] || fail "$var=$bin is not an executable file"
  done_with "$bin" "$(version_of "$bin")" local "$default_license" "$default_notice"
done

host_arch=$(uname -m)
[ "$host_arch" = aarch64 ] && host_arch=arm64

from_path() {
  local candidate
  candidate=$(command -v blackbox_exporter || true)
  [ -n "$candidate" ] && [ -x "$candidate" ] && [ "$(elf_machine_of "$candidate")" = "$elf_machine" ] \
    && done_with "$candidate" "$(version_of "$candidate")" local "$default_license" "$default_notice"
  return 0
}

# Debian's package, for this machine's architecture (installed) or the other (downloaded).
from_debian() {
  local doc=/usr/share/doc/prometheus-blackbox-exporter
  if [ "$arch" = "$host_arch" ]; then
    local bin=/usr/bin/prometheus-blackbox-exporter
    if [ ! -x "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      note "installing Debian's prometheus-blackbox-exporter"
      { apt-get install -y -qq prometheus-blackbox-exporter \
        || { apt-get update -qq && apt-get install -y -qq prometheus-blackbox-exporter; }; } >&2 || true
    fi
    if [ -x "$bin" ]; then
      local v notice=$default_notice
      v=$(dpkg-query -W -f '${Version}' prometheus-blackbox-exporter 2>/dev/null | sed 's/-[^-]*$//' || true)
      [ -f "$doc/NOTICE" ] && notice=$doc/NOTICE
      done_with "$bin" "${v:-$(version_of "$bin")}" debian "$default_license" "$notice"
    fi
  elif command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
    local root=$cache/debian-$deb_arch
    if "$here/debian-package-root.sh" "$deb_arch" "$root" prometheus-blackbox-exporter >&2; then
      local v notice=$default_notice
      v=$(cat "$root/.versions/prometheus-blackbox-exporter" 2>/dev/null | sed 's/-[^-]*$//' || true)
      [ -f "$root$doc/NOTICE" ] && notice=$root$doc/NOTICE
      done_with "$root/usr/bin/prometheus-blackbox-exporter" "${v:-unknown}" debian "$default_license" "$notice"
    fi
  fi
  return 0
}

# The pinned upstream release, its tarball checked before anything in it is used.
from_upstream() {
  local name="blackbox_exporter-${version}.linux-${go_arch}"
  local base="$release_base/v${version}"
  local dir="$cache/upstream/$name"
  local want=${BLACKBOX_EXPORTER_SHA256:-$(pinned_sha256 "$version/$go_arch")}
  if [ ! -x "$dir/blackbox_exporter" ] || [ ! -f "$dir/.verified" ]; then
    mkdir -p "$cache/upstream"
    local tarball="$cache/upstream/$name.tar.gz"
    note "downloading $name"
    if ! curl -fsSL --retry 2 --connect-timeout 10 -o "$tarball.part" "$base/$name.tar.gz"; then
      note "could not download $base/$name.tar.gz"
      rm -f "$tarball.part"
      return 0
    fi
    if [ -z "$want" ]; then
      curl -fsSL --retry 2 --connect-timeout 10 -o "$cache/upstream/sha256sums-$version.txt" "$base/sha256sums.txt" \
        || fail "no pinned SHA-256 for $name and could not download $base/sha256sums.txt"
      want=$(awk -v f="$name.tar.gz" '$2 == f || $2 == "*" f { print $1 }' "$cache/upstream/sha256sums-$version.txt")
      [ -n "$want" ] || fail "$name.tar.gz is not listed in the release's sha256sums.txt"
    fi
    local got
    got=$(sha256sum "$tarball.part" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
      rm -f "$tarball.part"
      fail "$name.tar.gz has SHA-256 $got, expected $want: not used"
    fi
    mv "$tarball.part" "$tarball"
    rm -rf "$dir"
    tar -xzf "$tarball" -C "$cache/upstream"
    [ -x "$dir/blackbox_exporter" ] || fail "$name.tar.gz has no $name/blackbox_exporter"
    echo "$want" >"$dir/.verified"
  fi
  local license=$dir/LICENSE notice=$dir/NOTICE
  [ -f "$license" ] || license=$default_license
  [ -f "$notice" ] || notice=$default_notice
  done_with "$dir/blackbox_exporter" "$version" upstream "$license" "$notice"
}

case "$prefer" in
  local)
    [ "$arch" = "$host_arch" ] && from_path
    from_debian
    from_upstream
    ;;
  upstream)
    from_upstream
    note "falling back to Debian's prometheus-blackbox-exporter (dynamically linked against glibc)"
    from_debian
    ;;
  debian)
    from_debian
    ;;
esac
fail "no blackbox_exporter for $arch: set $arch_var (or BLACKBOX_EXPORTER_BIN) to a local binary"
