#!/usr/bin/env bash
# Lays out a layer directory exactly as the layer zip unpacks at /opt:
#   extensions/blackbox-extension  bootstrap  bin/blackbox_exporter
#   blackbox/blackbox.yml  blackbox/LICENSE  blackbox/NOTICE   (blackbox_exporter's Apache-2.0
#   licence and notice, which ship with its binary)
# Usage: assemble-layer.sh OUT_DIR EXTENSION_BIN BOOTSTRAP_BIN BLACKBOX_BIN [LICENSE NOTICE]
# LICENSE defaults to Debian's copy of the Apache-2.0 text, NOTICE to layer/blackbox/NOTICE
# (blackbox_exporter's NOTICE file).
set -euo pipefail
[ $# -eq 4 ] || [ $# -eq 6 ] || { echo "usage: $0 OUT_DIR EXTENSION_BIN BOOTSTRAP_BIN BLACKBOX_BIN [LICENSE NOTICE]" >&2; exit 2; }
out=$1 extension=$2 bootstrap=$3 blackbox=$4
here=$(cd "$(dirname "$0")/.." && pwd)
license=${5:-/usr/share/common-licenses/Apache-2.0}
notice=${6:-$here/blackbox/NOTICE}
for f in "$license" "$notice"; do
  [ -f "$f" ] || { echo "assemble-layer: $f is missing (blackbox_exporter's LICENSE and NOTICE ship in the layer)" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/extensions" "$out/bin" "$out/blackbox"
install -m 0755 "$extension" "$out/extensions/blackbox-extension"
install -m 0755 "$bootstrap" "$out/bootstrap"
install -m 0755 "$blackbox" "$out/bin/blackbox_exporter"
install -m 0644 "$here/blackbox/blackbox.yml" "$out/blackbox/blackbox.yml"
install -m 0644 "$license" "$out/blackbox/LICENSE"
install -m 0644 "$notice" "$out/blackbox/NOTICE"
