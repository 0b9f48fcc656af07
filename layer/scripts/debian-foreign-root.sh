#!/usr/bin/env bash
# Unpacks Debian packages of another architecture into one directory, as a root for
# `qemu-aarch64-static -L ROOT` or to take a binary from:
#   debian-foreign-root.sh ARCH ROOT PACKAGE...     e.g. arm64 target/debian-arm64 libc6
# Packages are fetched with `apt-get download PACKAGE:ARCH` (nothing is installed) and
# unpacked with `dpkg-deb -x`. When apt does not know ARCH yet and we are root, the
# architecture is added (`dpkg --add-architecture`) and the lists updated.
# ROOT/.versions/PACKAGE holds the unpacked version; a package already there is kept.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 ARCH ROOT PACKAGE..." >&2; exit 2; }
arch=$1 root=$2; shift 2
fail() { echo "debian-foreign-root: $*" >&2; exit 1; }

missing=()
for pkg in "$@"; do
  [ -s "$root/.versions/$pkg" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || fail "needs apt-get and dpkg-deb (Debian)"

known() { apt-cache show --no-all-versions "${missing[0]}:$arch" >/dev/null 2>&1; }
if ! known; then
  [ "$(id -u)" = 0 ] || fail "apt does not know $arch packages; as root: dpkg --add-architecture $arch && apt-get update"
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    echo "debian-foreign-root: dpkg --add-architecture $arch" >&2
    dpkg --add-architecture "$arch"
  fi
  apt-get update -qq >&2 || true
  known || fail "apt has no ${missing[0]}:$arch"
fi

mkdir -p "$root/.debs" "$root/.versions"
debs=$(cd "$root/.debs" && pwd)
for pkg in "${missing[@]}"; do
  rm -f "$debs/${pkg}_"*"_$arch.deb"
  (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "$pkg:$arch" >&2) \
    || fail "apt-get download $pkg:$arch failed"
  deb=$(ls "$debs/${pkg}_"*"_$arch.deb" | head -n 1)
  dpkg-deb -x "$deb" "$root"
  dpkg-deb -f "$deb" Version >"$root/.versions/$pkg"
  echo "debian-foreign-root: $pkg:$arch $(cat "$root/.versions/$pkg") unpacked in $root" >&2
done
