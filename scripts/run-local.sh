#!/usr/bin/env bash
# Starts the layer in the local Lambda sandbox with a Function URL on 127.0.0.1:9000,
# passing every BLACKBOX_* variable of the caller's environment to the function.
set -euo pipefail
sandbox=$1 layer=$2; shift 2
args=(--layer "$layer" --listen "${FUNCTION_URL_LISTEN:-127.0.0.1:9000}")
# Locally you probe services on your own machine: unless you say otherwise, allow every
# target, loopback included. The Runtime API and blackbox's own port stay refused.
export BLACKBOX_ALLOWED_TARGETS=${BLACKBOX_ALLOWED_TARGETS-*,0.0.0.0/0,::/0}
while IFS= read -r -d '' pair; do
  case "$pair" in BLACKBOX_*) args+=(--env "$pair") ;; esac
done < <(env -0)
exec "$sandbox" "${args[@]}" "$@"
