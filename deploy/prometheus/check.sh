#!/usr/bin/env bash
# CI for the scrape config docs/prometheus.md shows: deploy/prometheus/prometheus.yml must pass
# `promtool check config` (with its token file pointed at a temporary one, since promtool
# checks that it exists), must be what docs/prometheus.md shows, and must keep the multi-target
# pattern's parts: https, /probe, a module, the bearer token, and the relabelling of the
# target into ?target= and instance, and of the address into the Function URL's host.
# Then the many-region rules: `promtool check rules` and their unit tests
# (lambda-blackbox.rules.test.yml, `promtool test rules`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
config=$here/prometheus.yml
command -v promtool >/dev/null || { echo "promtool is missing: apt-get install prometheus" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'example-token-change-me\n' >"$tmp/token"
sed "s#/etc/prometheus/lambda-blackbox.token#$tmp/token#g" "$config" >"$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml"

python3 - "$config" "$repo/docs/prometheus.md" <<'PY'
import re, sys
config, readme = (open(p, encoding="utf-8").read() for p in sys.argv[1:3])
blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
assert config in blocks, "docs/prometheus.md does not show deploy/prometheus/prometheus.yml verbatim in a ```yaml block"
for need in ("scheme: https", "metrics_path: /probe", "module: [", "type: Bearer", "credentials_file:",
             "target_label: __param_target", "source_labels: [__param_target]", "target_label: instance",
             "target_label: __address__", ".lambda-url."):
    assert need in config, f"prometheus.yml lost {need!r}"
print("prometheus.yml: promtool check config passed; docs/prometheus.md shows it verbatim")
PY

promtool check rules "$here/lambda-blackbox.rules.yml"
(cd "$here" && promtool test rules lambda-blackbox.rules.test.yml)
