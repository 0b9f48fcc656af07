#!/usr/bin/env bash
# `make layer ARCH=x86_64|arm64`: builds our binaries static for each ARCH (musl, cross-built
# with cargo-zigbuild), lays the layer out (assemble-layer.sh) and zips it reproducibly
# (zip-layer.py) into
#   dist/lambda-blackbox-<version>-<arch>.zip
# with a manifest beside it, dist/lambda-blackbox-<version>-<arch>.json (the zip's SHA-256,
# its files, blackbox_exporter's version and origin; `make publish` reads it).
# Usage: build-layer.sh ARCH...   (several: one cargo build for all of them)
# Installs what it uses: the Rust musl targets (rustup) and cargo-zigbuild (pip; brings zig).
# blackbox_exporter comes from blackbox-exporter-bin.sh, BLACKBOX_PREFER=upstream unless set
# otherwise (`make test` and CI: debian). DIST_DIR (default dist) is where the zips go.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 x86_64|arm64 ..." >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cargo=${CARGO:-cargo}
dist=${DIST_DIR:-dist}

triple_of() {
  case "$1" in
    x86_64) echo x86_64-unknown-linux-musl ;;
    arm64) echo aarch64-unknown-linux-musl ;;
    *) echo "build-layer: ARCH=$1: expected x86_64 or arm64" >&2; exit 2 ;;
  esac
}
targets=()
for arch in "$@"; do targets+=(--target "$(triple_of "$arch")"); done
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "build-layer: no version in Cargo.toml [workspace.package]" >&2; exit 1; }

# Tools.
if command -v rustup >/dev/null; then
  for arch in "$@"; do
    triple=$(triple_of "$arch")
    rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"
  done
fi
if ! command -v cargo-zigbuild >/dev/null; then
  python3 -m pip install -q cargo-zigbuild
  hash -r
fi

"$cargo" zigbuild --release --locked "${targets[@]}" -p blackbox-extension -p lambda-blackbox-handler

info=$(mktemp)
trap 'rm -f "$info"' EXIT
for arch in "$@"; do
  out=target/$(triple_of "$arch")/release
  BLACKBOX_PREFER=${BLACKBOX_PREFER:-upstream} BLACKBOX_INFO_FILE=$info ARCH=$arch \
    layer/scripts/blackbox-exporter-bin.sh >/dev/null
  # blackbox_bin, blackbox_version, blackbox_source, blackbox_license, blackbox_notice
  # shellcheck disable=SC1090
  . "$info"

  layer_dir=target/layer-$arch
  layer/scripts/assemble-layer.sh "$layer_dir" "$out/blackbox-extension" "$out/bootstrap" \
    "$blackbox_bin" "$blackbox_license" "$blackbox_notice"

  name=lambda-blackbox-$version-$arch
  python3 layer/scripts/zip-layer.py "$layer_dir" "$dist/$name.zip" --manifest "$dist/$name.json" \
    --arch "$arch" --version "$version" \
    --blackbox-version "$blackbox_version" --blackbox-source "$blackbox_source"
  python3 - "$dist/$name.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
bad = [n for n in ("extensions/blackbox-extension", "bootstrap") if not m["static"].get(n)]
if bad:
    sys.exit(f"build-layer: not statically linked: {', '.join(bad)}")
if not m["blackbox_exporter"]["static"]:
    print("build-layer: note: this blackbox_exporter is dynamically linked against glibc; "
          "the layer then needs an Amazon Linux 2023 runtime (make publish lists only those)", file=sys.stderr)
PY
done
