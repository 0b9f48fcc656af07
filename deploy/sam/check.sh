#!/usr/bin/env bash
# CI for the SAM reference: `sam validate --lint`, plain `sam validate` (each catches what
# the other lets through), and an offline `sam build` whose output must be the layer's
# layout with executable binaries and the function's package.
# Usage: check.sh LAYER_SOURCE   (a layer zip from `make layer`, or a layer directory)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 LAYER_SOURCE (layer zip or directory)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
source=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# SAM CLI from $SAM, the venv .ci/run makes (it pins boto3 exactly), or the PATH.
sam=${SAM:-$here/../../target/aws-sam-cli/bin/sam}
[ -x "$sam" ] || sam=$(command -v sam) || {
  echo "sam is missing: python3 -m venv target/aws-sam-cli && target/aws-sam-cli/bin/pip install aws-sam-cli" >&2
  exit 1
}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} SAM_CLI_TELEMETRY=0
# Nothing leaves the machine: botocore does not ask the metadata address, and SAM's own
# settings directory says it has just checked for a newer version (else it asks PyPI).
export AWS_EC2_METADATA_DISABLED=true
sam_settings=$(mktemp -d)
trap 'rm -rf "$sam_settings"' EXIT
printf '{"lastVersionCheck": %s, "telemetryEnabled": false}\n' "$(date +%s)" >"$sam_settings/metadata.json"
export __SAM_CLI_APP_DIR=$sam_settings

cd "$here"
"$sam" validate --lint
"$sam" validate
"$sam" validate --lint -t push.yaml
"$sam" validate -t push.yaml

out=$(mktemp -d)
trap 'rm -rf "$out" "$sam_settings"' EXIT
# The stack's Architecture is the layer's: build-layer.sh refuses any other.
arch=$("$here/../../layer/scripts/layer-arch.sh" "$source")
LAYER_SOURCE=$source "$sam" build --build-dir "$out/build" --cache-dir "$out/cache" \
  --parameter-overrides "Architecture=$arch" >"$out/build.log" 2>&1 ||
  { cat "$out/build.log" >&2; exit 1; }
layer=$out/build/BlackboxLayer
for f in extensions/blackbox-extension bootstrap bin/blackbox_exporter; do
  [ -f "$layer/$f" ] && [ -x "$layer/$f" ] || { echo "sam build: $f missing or not executable in the layer" >&2; exit 1; }
done
[ -f "$layer/blackbox/blackbox.yml" ] || { echo "sam build: blackbox/blackbox.yml missing" >&2; exit 1; }
[ -f "$out/build/ProbeFunction/README.md" ] || { echo "sam build: the function's package is empty" >&2; exit 1; }
grep -q 'ContentUri: BlackboxLayer' "$out/build/template.yaml" &&
  grep -q 'CodeUri: ProbeFunction' "$out/build/template.yaml" ||
  { echo "sam build: the built template does not point at the built artefacts" >&2; exit 1; }
echo "sam: template valid (lint and basic), offline build laid out the layer and the function"
