#!/bin/sh
# Runs a command in a network namespace of its own that has only loopback (127.0.0.0/8 and
# ::1), so that whatever a test dials elsewhere — a resolver, the metadata address, an address
# a probe reads out of an attacker's spelling — fails at once with no route, and nothing
# leaves the machine. `make test` runs the test suites through it; needs root (unshare).
set -eu
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
command -v unshare >/dev/null && command -v ip >/dev/null ||
  { echo "loopback-only: unshare (util-linux) and ip (iproute2) are needed" >&2; exit 1; }
unshare --net true 2>/dev/null ||
  { echo "loopback-only: cannot make a network namespace (run as root: the tests need it)" >&2; exit 1; }
exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' loopback-only "$@"
