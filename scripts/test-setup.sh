#!/usr/bin/env bash
# Installs what `make lint` and `make test` need, each only when it is missing, and says
# nothing when all is there:
#   test-setup.sh lint    rustfmt and clippy
#   test-setup.sh test    the above, the musl targets, Debian packages (blackbox_exporter,
#                         Prometheus and promtool, qemu-user, file, unzip, Docker and
#                         debootstrap for `sam local invoke`), the Python
#                         packages, the SAM CLI virtualenv, the CDK app's npm ci, and a
#                         second host name for loopback in /etc/hosts
# When a step cannot run (not root, no network) it stops at once with one line naming
# what is missing and how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
what=${1:-test}

fail() { echo "test-setup: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

rust_components() {
  local installed missing=()
  installed=$(rustup component list --installed 2>/dev/null) || fail "rustup is missing: see https://rustup.rs"
  for c in rustfmt clippy; do grep -q "^$c" <<<"$installed" || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] && return
  rustup component add "${missing[@]}" >/dev/null 2>&1 || fail "could not add ${missing[*]}: rustup component add ${missing[*]}"
}

rust_targets() {
  local installed missing=()
  installed=$(rustup target list --installed)
  for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    grep -qx "$t" <<<"$installed" || missing+=("$t")
  done
  [ ${#missing[@]} -eq 0 ] && return
  rustup target add "${missing[@]}" >/dev/null 2>&1 || fail "could not add the ${missing[*]} targets: rustup target add ${missing[*]}"
}

# package:command pairs; a package is installed when its command is missing.
debian_packages() {
  local missing=() pair
  for pair in prometheus-blackbox-exporter:prometheus-blackbox-exporter prometheus:promtool \
    qemu-user-static:qemu-aarch64-static file:file unzip:unzip docker.io:dockerd \
    debootstrap:debootstrap; do
    command -v "${pair#*:}" >/dev/null || missing+=("${pair%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return
  is_root || fail "${missing[*]} missing; as root: apt-get install ${missing[*]}"
  command -v apt-get >/dev/null || fail "${missing[*]} missing and no apt-get: install them by hand"
  { apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; } >/dev/null 2>&1 \
    || fail "apt-get install ${missing[*]} failed (no network?)"
}

python_packages() {
  local missing=()
  python3 -c 'import awslambdaric' 2>/dev/null || missing+=(awslambdaric)
  python3 -c 'import pytest' 2>/dev/null || missing+=(pytest)
  python3 -c 'import boto3' 2>/dev/null || missing+=(boto3)
  python3 -c 'import moto.server' 2>/dev/null || missing+=('moto[server]')
  command -v cargo-zigbuild >/dev/null || missing+=(cargo-zigbuild)
  [ ${#missing[@]} -eq 0 ] && return
  python3 -m pip install -q --root-user-action=ignore "${missing[@]}" >/dev/null 2>&1 \
    || fail "python3 -m pip install ${missing[*]} failed (no network?)"
}

# SAM CLI pins boto3 exactly: a venv of its own keeps it off moto's botocore.
sam_cli() {
  [ -x target/aws-sam-cli/bin/sam ] && return
  { python3 -m venv target/aws-sam-cli && target/aws-sam-cli/bin/pip install -q aws-sam-cli; } >/dev/null 2>&1 \
    || fail "could not install the SAM CLI: python3 -m venv target/aws-sam-cli && target/aws-sam-cli/bin/pip install aws-sam-cli"
}

# npm ci again only when the lock file changed since the last one.
cdk_app() {
  command -v npm >/dev/null || fail "npm is missing (the CDK app's tests need Node.js 20 or later)"
  local stamp=deploy/cdk/node_modules/.package-lock.json
  [ -f "$stamp" ] && [ "$stamp" -nt deploy/cdk/package-lock.json ] && return
  (cd deploy/cdk && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) \
    || fail "npm ci in deploy/cdk failed (no network?): cd deploy/cdk && npm ci"
}

# The SSRF tests need a host name besides localhost that resolves to loopback, as Debian
# gives the machine's own name on 127.0.1.1.
loopback_alias() {
  awk '$1 ~ /^127\./ { for (i = 2; i <= NF; i++) if ($i !~ /localhost/) found = 1 } END { exit !found }' /etc/hosts \
    && return
  is_root || fail "/etc/hosts has no name besides localhost on loopback; as root: echo '127.0.1.1 lambda-blackbox-loopback.test' >> /etc/hosts"
  echo "127.0.1.1 lambda-blackbox-loopback.test" >>/etc/hosts
}

rust_components
case "$what" in
  lint) ;;
  test) rust_targets; debian_packages; python_packages; sam_cli; cdk_app; loopback_alias ;;
  *) fail "usage: $0 lint|test" ;;
esac
