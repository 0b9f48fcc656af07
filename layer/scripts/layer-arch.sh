#!/usr/bin/env bash
# Prints the architecture (x86_64 or arm64) of a layer zip or layer directory, read from
# its bootstrap's ELF header (e_machine: 62 x86_64, 183 aarch64).
# Usage: layer-arch.sh LAYER_ZIP_OR_DIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 LAYER_ZIP_OR_DIR" >&2; exit 2; }
case "$1" in
  # od stops after 20 bytes: unzip's SIGPIPE is expected.
  *.zip) machine=$( (unzip -p "$1" bootstrap 2>/dev/null || true) | od -An -tu2 -j18 -N2 | tr -d ' ') ;;
  *) machine=$(od -An -tu2 -j18 -N2 "$1/bootstrap" 2>/dev/null | tr -d ' ' || true) ;;
esac
case "$machine" in
  62) echo x86_64 ;;
  183) echo arm64 ;;
  *) echo "$1: bootstrap is not an x86_64 or arm64 executable" >&2; exit 1 ;;
esac
