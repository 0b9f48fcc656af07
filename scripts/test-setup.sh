#!/usr/bin/env bash
# Installs what `make lint` and `make test` need, each only when it is missing, and says
# nothing when all is there:
#   test-setup.sh lint    rustfmt and clippy
#   test-setup.sh test    the above, the musl targets, Debian packages (blackbox_exporter,
#                         Prometheus and promtool, qemu-user, file, unzip, Docker and
#                         debootstrap for `sam local invoke`), the Python
#                         packages, the SAM CLI and AWS CLI virtualenvs, AWS's Node.js runtime
#                         interface client (built with cmake, autoconf, automake, libtool),
#                         the CDK app's npm ci, and a second host name for loopback in
#                         /etc/hosts
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

# Arguments: package:command pairs; a package is installed when its command is missing.
apt_install_missing() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair#*:}" >/dev/null || missing+=("${pair%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return
  is_root || fail "${missing[*]} missing; as root: apt-get install ${missing[*]}"
  command -v apt-get >/dev/null || fail "${missing[*]} missing and no apt-get: install them by hand"
  { apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; } >/dev/null 2>&1 \
    || fail "apt-get install ${missing[*]} failed (no network?)"
}

debian_packages() {
  apt_install_missing prometheus-blackbox-exporter:prometheus-blackbox-exporter prometheus:promtool \
    qemu-user-static:qemu-aarch64-static file:file unzip:unzip docker.io:dockerd \
    debootstrap:debootstrap
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

# The AWS CLI, for the docs' commands (docs/check/test_commands.py runs them against moto).
aws_cli() {
  [ -x target/awscli/bin/aws ] && return
  { python3 -m venv target/awscli && target/awscli/bin/pip install -q awscli; } >/dev/null 2>&1 \
    || fail "could not install the AWS CLI: python3 -m venv target/awscli && target/awscli/bin/pip install awscli"
}

# AWS's Node.js runtime interface client, for the Node.js handler's end-to-end tests. Its
# install builds curl and aws-lambda-cpp from bundled sources (about a minute) against the
# machine's Node.js headers (without npm_config_nodedir node-gyp downloads them); only
# bin/, dist/ (with the built rapid-client.node) and package.json run, so only they are
# kept (the build trees are 160 MB). Pinned to 3.3.0: 4.x needs Node.js 22.
NODE_RIC_VERSION=3.3.0
NODE_RIC_DIR=target/aws-lambda-ric
node_ric() {
  local ric=$NODE_RIC_DIR/node_modules/aws-lambda-ric build=$NODE_RIC_DIR.build nodedir
  [ -f "$ric/dist/rapid-client.node" ] && grep -q "\"version\": \"$NODE_RIC_VERSION\"" "$ric/package.json" && return
  command -v node >/dev/null || fail "node is missing (the Node.js handler's tests need Node.js 20)"
  nodedir=$(dirname "$(dirname "$(node -p process.execPath)")")
  [ -f "$nodedir/include/node/node_api.h" ] \
    || fail "no Node.js headers in $nodedir/include/node: install the headers of the Node.js that runs (aws-lambda-ric builds a native module)"
  apt_install_missing cmake:cmake autoconf:autoconf automake:automake libtool:libtoolize g++:g++ make:make
  rm -rf "$build" && mkdir -p "$build" && echo '{"private": true}' >"$build/package.json"
  (cd "$build" && npm_config_nodedir=$nodedir npm install --no-audit --no-fund --no-package-lock \
    --loglevel=error "aws-lambda-ric@$NODE_RIC_VERSION") >/dev/null 2>&1 \
    || { rm -rf "$build"; fail "could not build aws-lambda-ric $NODE_RIC_VERSION (no network?): mkdir -p $NODE_RIC_DIR && cd $NODE_RIC_DIR && npm init -y && npm_config_nodedir=$nodedir npm install aws-lambda-ric@$NODE_RIC_VERSION"; }
  rm -rf "$NODE_RIC_DIR" && mkdir -p "$ric" \
    && cp -R "$build/node_modules/aws-lambda-ric/"{bin,dist,package.json} "$ric/" \
    && rm -rf "$build" || fail "could not copy the built aws-lambda-ric from $build to $ric"
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
  test) rust_targets; debian_packages; python_packages; sam_cli; aws_cli; node_ric; cdk_app; loopback_alias ;;
  *) fail "usage: $0 lint|test" ;;
esac
