#!/usr/bin/env bash
# What `sam local invoke` needs in `make test`: a Docker daemon of the tests' own and the base
# image SAM builds the function's image on.
#   sam-docker.sh rootfs   builds the stand-in base image's root file system (debootstrap
#                          --variant=minbase bookworm from the machine's own Debian mirror),
#                          once, into target/docker/base-rootfs.tar; needs the network
#   sam-docker.sh daemon   runs dockerd in the foreground under target/docker: its own socket,
#                          data and exec roots; no bridge, no iptables, so nothing about the
#                          machine's network changes; runtime oci-rie-host-network (beside
#                          this script) for RIE's container
#   sam-docker.sh host     prints its DOCKER_HOST (unix://target/docker/docker.sock, or a
#                          socket under /tmp when that path is too long for a unix socket)
#   sam-docker.sh image    imports the root file system as public.ecr.aws/lambda/provided:al2023-x86_64
#                          (SAM 1.170's base image for provided.al2023, which cannot be pulled
#                          here) unless the daemon has it
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$(cd "$here/.." && pwd)/target/docker
base_image=public.ecr.aws/lambda/provided:al2023-x86_64
socket=$state/docker.sock
# A unix socket's path holds at most 107 bytes.
[ ${#socket} -le 100 ] || socket=/tmp/lambda-blackbox-docker-$(printf %s "$state" | sha256sum | cut -c1-12).sock
export DOCKER_HOST=unix://$socket
fail() { echo "sam-docker: $*" >&2; exit 1; }

# The Debian archive the machine's apt uses, read from its sources (deb822 or one-line).
debian_mirror() {
  local uri
  uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ { print ($2 ~ /^\[/ ? $3 : $2); exit }' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || fail "no Debian mirror in /etc/apt/sources.list(.d): debootstrap needs one"
  echo "$uri"
}

case "${1:-}" in
  rootfs)
    [ -s "$state/base-rootfs.tar" ] && exit 0
    command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"
    mkdir -p "$state"
    root=$(mktemp -d "$state/rootfs.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase bookworm "$root" "$(debian_mirror)" >"$state/debootstrap.log" 2>&1 \
      || fail "debootstrap failed (no network?): see $state/debootstrap.log"
    tar -C "$root" -cf "$state/base-rootfs.tar.part" .
    mv "$state/base-rootfs.tar.part" "$state/base-rootfs.tar"
    ;;
  daemon)
    command -v dockerd >/dev/null || fail "dockerd is missing: apt-get install docker.io"
    mkdir -p "$state/data" "$state/exec"
    exec dockerd --host "$DOCKER_HOST" --data-root "$state/data" --exec-root "$state/exec" \
      --pidfile "$state/dockerd.pid" --bridge=none --iptables=false --ip6tables=false \
      --add-runtime "rie-host-network=$here/oci-rie-host-network" --default-runtime rie-host-network
    ;;
  image)
    docker image inspect "$base_image" >/dev/null 2>&1 && exit 0
    [ -s "$state/base-rootfs.tar" ] || fail "$state/base-rootfs.tar is missing: $0 rootfs"
    docker import "$state/base-rootfs.tar" "$base_image" >/dev/null
    ;;
  host) echo "$DOCKER_HOST" ;;
  *) fail "usage: $0 rootfs|daemon|image|host" ;;
esac
