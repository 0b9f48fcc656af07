#!/usr/bin/env bash
# Starts the layer in the local Lambda sandbox with a Function URL, passing every BLACKBOX_*
# variable of the caller's environment to the function. Exits at once, naming the cause,
# when a port is taken or Init fails.
#   FUNCTION_URL_LISTEN  the Function URL (default 127.0.0.1:9000)
#   INVOKE_LISTEN        Lambda's invoke API, as RIE serves it (default 127.0.0.1:9002)
#   RUNTIME_API_LISTEN   the Runtime API (default: a free port)
#   BLACKBOX_LISTEN_ADDRESS  blackbox_exporter's own listener (default: a free port on
#                        127.0.0.1; on Lambda it is 127.0.0.1:9115)
#   FUNCTION_DIR         the function's package (default: the repository's function/); its
#                        blackbox.yml, if any, is the config, as /var/task/blackbox.yml on Lambda
set -euo pipefail
sandbox=$1 layer=$2; shift 2

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
args=(--layer "$layer" --exit-on-init-failure
  --listen "${FUNCTION_URL_LISTEN:-127.0.0.1:9000}"
  --invoke-listen "${INVOKE_LISTEN:-127.0.0.1:9002}"
  --runtime-api "${RUNTIME_API_LISTEN:-127.0.0.1:0}")
function_dir=${FUNCTION_DIR:-$(cd "$(dirname "$0")/.." && pwd)/function}
if [ -z "${BLACKBOX_CONFIG:-}" ] && [ -f "$function_dir/blackbox.yml" ]; then
  export BLACKBOX_CONFIG=$function_dir/blackbox.yml
  echo "run-local: blackbox.yml from $function_dir" >&2
fi
# Another blackbox_exporter on this machine most likely holds its default port, 9115.
export BLACKBOX_LISTEN_ADDRESS=${BLACKBOX_LISTEN_ADDRESS:-127.0.0.1:$(free_port)}
# Locally you probe services on your own machine: unless you say otherwise, allow every
# target, loopback included. The Runtime API and blackbox's own port stay refused.
export BLACKBOX_ALLOWED_TARGETS=${BLACKBOX_ALLOWED_TARGETS-*,0.0.0.0/0,::/0}
while IFS= read -r -d '' pair; do
  case "$pair" in BLACKBOX_*) args+=(--env "$pair") ;; esac
done < <(env -0)
exec "$sandbox" "${args[@]}" "$@"
