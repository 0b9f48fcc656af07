#!/usr/bin/env bash
# Lays out a layer directory exactly as the layer zip unpacks at /opt:
#   extensions/blackbox-extension  bootstrap  bin/blackbox_exporter  blackbox/blackbox.yml
# Usage: assemble-layer.sh OUT_DIR EXTENSION_BIN BOOTSTRAP_BIN BLACKBOX_BIN
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 OUT_DIR EXTENSION_BIN BOOTSTRAP_BIN BLACKBOX_BIN" >&2; exit 2; }
out=$1 extension=$2 bootstrap=$3 blackbox=$4
here=$(cd "$(dirname "$0")/.." && pwd)

rm -rf "$out"
mkdir -p "$out/extensions" "$out/bin" "$out/blackbox"
install -m 0755 "$extension" "$out/extensions/blackbox-extension"
install -m 0755 "$bootstrap" "$out/bootstrap"
install -m 0755 "$blackbox" "$out/bin/blackbox_exporter"
install -m 0644 "$here/blackbox/blackbox.yml" "$out/blackbox/blackbox.yml"
