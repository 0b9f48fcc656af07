#!/usr/bin/env bash
# Runs a crate's cargo-fuzz targets (<crate>/fuzz), each for FUZZ_SECONDS (default 300), and
# prints per target: executions, executions per second, corpus size, coverage
# (cov/ft) and the crashes found, grouped by where they panicked. Exits 1 when any
# target crashed. `make fuzz` calls it for probe/ and handler/; not part of `make test`
# or CI.
#
# libFuzzer runs in fork mode with -ignore_crashes=1, so a crash is recorded (under
# fuzz/artifacts/<target>/) and the run goes on for its whole time instead of
# stopping at the first one. The stable toolchain builds with RUSTC_BOOTSTRAP=1 for
# cargo-fuzz's nightly flags. Extra libFuzzer flags: FUZZ_ARGS; cargo-fuzz flags
# (e.g. `-s none` where the sanitizer build fails): FUZZ_BUILD_ARGS.
# target_policy reads FUZZ_PURE_GO=1 (count only what blackbox's pure Go resolver reaches,
# as upstream's static builds; by default also what glibc's getaddrinfo reaches, as cgo
# builds), FUZZ_STRICT_ATON=1 (the handler and glibc read inet_aton forms alike) and
# FUZZ_EXPLAIN=1 (print the verdicts and the modelled dials of the inputs given).
#
# usage: scripts/fuzz.sh CRATE_DIR [target...]   (default: every target of that crate; named
# targets that are not this crate's are skipped, so one list serves every crate)
set -euo pipefail

crate=${1:?usage: scripts/fuzz.sh CRATE_DIR [target...]}
shift
cd "$(dirname "$0")/../$crate"   # where cargo-fuzz looks for fuzz/
seconds=${FUZZ_SECONDS:-300}
mapfile -t own < <(sed -n '/^\[\[bin\]\]/,/^path/s/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml)
targets=()
for target in "${own[@]}"; do
  if [ $# -eq 0 ] || [[ " $* " == *" $target "* ]]; then targets+=("$target"); fi
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "$crate: none of its fuzz targets (${own[*]}) was named"
  exit 0
fi
export RUSTC_BOOTSTRAP=1
# shellcheck disable=SC2086
cargo fuzz build ${FUZZ_BUILD_ARGS:-}

max_len() {
  case "$1" in
    # Past the 8 KiB query limit, so the 414 path is reached too.
    event_to_upstream) echo 12288 ;;
    *) echo 4096 ;;
  esac
}

failed=0
summary=()
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  artifacts=fuzz/artifacts/$target
  log=fuzz/artifacts/$target.log
  mkdir -p "$corpus" "$artifacts"
  marker=$(mktemp)
  echo "== $target: ${seconds}s (log: $crate/$log)"
  # shellcheck disable=SC2086
  cargo fuzz run ${FUZZ_BUILD_ARGS:-} "$target" "$corpus" "fuzz/seeds/$target" -- \
    -dict="fuzz/$target.dict" -max_len="$(max_len "$target")" \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$seconds" ${FUZZ_ARGS:-} >"$log" 2>&1 || true

  # Fork mode's status lines: "#<execs>: cov: N ft: N corp: N exec/s: N oom/timeout/crash: a/b/c time: Ns ..."
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
  if [ -z "$last" ]; then
    echo "$target: no status line; see $crate/$log" >&2
    tail -20 "$log" >&2
    failed=1
    continue
  fi
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  cov=$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$last")
  ft=$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$last")
  time=$(sed -E 's/.* time: ([0-9]+)s.*/\1/' <<<"$last")
  crashes=$(sed -E 's/.*oom\/timeout\/crash: ([0-9]+\/[0-9]+\/[0-9]+).*/\1/' <<<"$last")
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(du -sb "$corpus" | cut -f1)
  rate=$((execs / (time > 0 ? time : 1)))
  line="$target: $execs execs in ${time}s ($rate/s), corpus $files files / $bytes bytes, cov $cov ft $ft, oom/timeout/crash $crashes"
  echo "$line"
  summary+=("$line")

  # New crash artifacts of this run, grouped by where they panicked.
  mapfile -t new < <(find "$artifacts" -type f -newer "$marker" -name 'crash-*' | sort)
  rm -f "$marker"
  if [ ${#new[@]} -gt 0 ]; then
    failed=1
    binary=fuzz/target/x86_64-unknown-linux-gnu/release/$target
    echo "$target: ${#new[@]} crash inputs; panics by location (count, location, first input):"
    for input in "${new[@]:0:500}"; do
      # The location and the message, with quoted inputs elided so that one bug is one group.
      where=$("$binary" "$input" 2>&1 | grep -m1 -A1 'panicked at' | tr '\n' ' ' |
        sed -E "s/thread '[^']*' \([0-9]+\) //; s/\"([^\"\\\\]|\\\\.)*\"/\"…\"/g" | cut -c1-300 || true)
      printf '%s\t%s\n' "${where:-no panic line (sanitizer report?)}" "$input"
    done | sort | awk -F'\t' -v crate="$crate" '{n[$1]++; if (!($1 in f)) f[$1]=$2} END {for (k in n) printf "  %d  %s\n     e.g. %s/%s\n", n[k], k, crate, f[k]}'
  fi
done

echo
printf '%s\n' "${summary[@]}"
exit "$failed"
