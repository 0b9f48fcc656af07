#!/usr/bin/env bash
# The layer of a SAM stack, laid out in ARTIFACTS_DIR (sam build sets it): built by
# `make layer` for the stack's architecture, or taken from LAYER_SOURCE (a layer zip or
# directory), which must be of that architecture; LAYER_SOURCE=none builds nothing (the
# stack uses LayerArn). Env: ARTIFACTS_DIR, REPO, STACK_ARCH (layer/<arch>/Makefile),
# LAYER_ARCH (only where no stack architecture is known), LAYER_SOURCE.
set -euo pipefail

fail() { echo "build-BlackboxLayer: $*" >&2; exit 1; }

[ -n "${ARTIFACTS_DIR:-}" ] || { echo "ARTIFACTS_DIR is not set: sam build sets it" >&2; exit 2; }
arch="${STACK_ARCH:-${LAYER_ARCH:-arm64}}"
if [ -n "${STACK_ARCH:-}" ] && [ -n "${LAYER_ARCH:-}" ] && [ "$LAYER_ARCH" != "$STACK_ARCH" ]; then
  fail "LAYER_ARCH=$LAYER_ARCH, but the stack's Architecture is $STACK_ARCH: the layer is built for the stack's architecture; drop LAYER_ARCH, or build with --parameter-overrides Architecture=$LAYER_ARCH"
fi

src="${LAYER_SOURCE:-}"
mkdir -p "$ARTIFACTS_DIR"
if [ "$src" = none ]; then
  echo "Not built (LAYER_SOURCE=none): the stack uses the published layer given as LayerArn." >"$ARTIFACTS_DIR/NOT-BUILT.txt"
  exit 0
fi
if [ -z "$src" ]; then
  make -C "$REPO" layer ARCH="$arch"
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
  src="$REPO/dist/lambda-blackbox-$version-$arch.zip"
fi
case "$src" in
  *.zip) unzip -q -o "$src" -d "$ARTIFACTS_DIR" ;;
  *) cp -a "$src"/. "$ARTIFACTS_DIR"/ ;;
esac
for f in extensions/blackbox-extension bootstrap bin/blackbox_exporter; do
  [ -x "$ARTIFACTS_DIR/$f" ] || fail "$src: $f is missing or not executable"
done
[ -f "$ARTIFACTS_DIR/blackbox/blackbox.yml" ] || fail "$src: blackbox/blackbox.yml is missing"

# e_machine of the ELF header: 62 x86_64, 183 aarch64.
for f in bootstrap extensions/blackbox-extension bin/blackbox_exporter; do
  machine=$(od -An -tu2 -j18 -N2 "$ARTIFACTS_DIR/$f" | tr -d ' ')
  case "$machine" in
    62) built=x86_64 ;;
    183) built=arm64 ;;
    *) fail "$src: $f is not an x86_64 or arm64 executable (ELF machine ${machine:-unreadable})" ;;
  esac
  if [ "$built" != "$arch" ]; then
    fail "$src: $f is $built, but the stack's Architecture is $arch. Give the $arch layer (make layer ARCH=$arch), or build with --parameter-overrides Architecture=$built"
  fi
done
