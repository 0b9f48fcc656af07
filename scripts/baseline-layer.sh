#!/usr/bin/env bash
# The x86_64 layer of another revision, unzipped, for `make bench BENCH_BASELINE_REV=<rev>`:
# the bench runs it beside this tree's layer in the same rounds, so that a change is held to
# "unchanged or better" side by side. Built in a worktree of that revision (kept under
# target/baseline-src, its cargo target shared in target/baseline-target) with Debian's
# blackbox_exporter, as `make test` builds ours.
# Usage: scripts/baseline-layer.sh REV OUT_DIR   (the layer lands in OUT_DIR/REV)
set -euo pipefail
rev=${1:?usage: scripts/baseline-layer.sh REV OUT_DIR}
out=${2:?usage: scripts/baseline-layer.sh REV OUT_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$root" rev-parse --verify "$rev^{commit}")
src=$root/target/baseline-src/$commit
if [ ! -d "$src" ]; then
  git -C "$root" worktree add --detach -f "$src" "$commit" >/dev/null
fi
mkdir -p "$root/target/baseline-target"
ln -sfn "$root/target/baseline-target" "$src/target"
dist=$root/target/baseline-dist/$commit
(cd "$src" && BLACKBOX_PREFER=debian DIST_DIR="$dist" layer/scripts/build-layer.sh x86_64 >&2)
mkdir -p "$out"
rm -rf "${out:?}/$rev"
unzip -q "$dist"/lambda-blackbox-*-x86_64.zip -d "$out/$rev"
echo "$out/$rev"
