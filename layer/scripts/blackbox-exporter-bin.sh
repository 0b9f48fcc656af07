#!/usr/bin/env bash
# Prints the path of a blackbox_exporter binary to put in the layer, for ARCH
# (x86_64 by default). In order: $BLACKBOX_EXPORTER_BIN; one on the PATH;
# Debian's package (installed with apt when missing and possible); a pinned
# upstream release, verified against the release's sha256sums.txt.
set -euo pipefail

arch=${ARCH:-x86_64}
version=${BLACKBOX_EXPORTER_VERSION:-0.25.0}
cache=${BLACKBOX_CACHE_DIR:-$(dirname "$0")/../../target/blackbox-download}

fail() { echo "blackbox-exporter-bin: $*" >&2; exit 1; }

if [ -n "${BLACKBOX_EXPORTER_BIN:-}" ]; then
  [ -x "$BLACKBOX_EXPORTER_BIN" ] || fail "BLACKBOX_EXPORTER_BIN=$BLACKBOX_EXPORTER_BIN is not an executable file"
  echo "$BLACKBOX_EXPORTER_BIN"; exit 0
fi

host_arch=$(uname -m)
[ "$host_arch" = aarch64 ] && host_arch=arm64
if [ "$arch" = "$host_arch" ]; then
  for candidate in "$(command -v blackbox_exporter || true)" /usr/bin/prometheus-blackbox-exporter; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "blackbox-exporter-bin: installing Debian's prometheus-blackbox-exporter" >&2
    if { apt-get install -y -qq prometheus-blackbox-exporter || { apt-get update -qq && apt-get install -y -qq prometheus-blackbox-exporter; }; } >&2; then
      echo /usr/bin/prometheus-blackbox-exporter; exit 0
    fi
  fi
fi

case "$arch" in
  x86_64) go_arch=amd64 ;;
  arm64) go_arch=arm64 ;;
  *) fail "ARCH=$arch: expected x86_64 or arm64" ;;
esac
name="blackbox_exporter-${version}.linux-${go_arch}"
base="https://github.com/prometheus/blackbox_exporter/releases/download/v${version}"
mkdir -p "$cache"
binary="$cache/$name/blackbox_exporter"
if [ ! -x "$binary" ]; then
  echo "blackbox-exporter-bin: downloading $name" >&2
  curl -fsSL --retry 2 -o "$cache/sha256sums.txt" "$base/sha256sums.txt" \
    || fail "could not download $base/sha256sums.txt; set BLACKBOX_EXPORTER_BIN to a local binary"
  curl -fsSL --retry 2 -o "$cache/$name.tar.gz" "$base/$name.tar.gz" \
    || fail "could not download $name.tar.gz; set BLACKBOX_EXPORTER_BIN to a local binary"
  (cd "$cache" && grep " $name.tar.gz\$" sha256sums.txt | sha256sum -c - >&2) \
    || fail "$name.tar.gz does not match sha256sums.txt"
  tar -xzf "$cache/$name.tar.gz" -C "$cache"
fi
echo "$binary"
