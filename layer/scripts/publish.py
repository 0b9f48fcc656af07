#!/usr/bin/env python3
"""`make publish`: publishes the layer zips in dist/ as Lambda layer versions, one per
region and architecture, and writes dist/layers.json (region -> arch -> layer version ARN).

usage: publish.py --regions "us-east-1 eu-west-1" --archs "x86_64 arm64" [--public]
                  [--dist dist] [--layer-name lambda-blackbox] [--out dist/layers.json]

- Layer name: <layer-name>-<arch> (lambda-blackbox-x86_64, lambda-blackbox-arm64), with
  --compatible-architectures set to that one architecture and the compatible runtimes below.
- A zip whose SHA-256 equals the CodeSha256 of the latest version already published under
  that name is not published again: that version's ARN is reused.
- --public: grants lambda:GetLayerVersion to every account (principal *) on the version,
  unless its policy already has that statement.
- A failure in one region or architecture is reported and the others still go through;
  the exit status is 1 when any failed. layers.json lists what this run published or reused,
  and keeps what earlier runs wrote for other regions and architectures.

Credentials and endpoint come from the usual AWS settings (AWS_PROFILE, AWS_ACCESS_KEY_ID,
AWS_ENDPOINT_URL, ...), through boto3.
"""

import argparse
import json
import os
import sys

# Runtimes whose Amazon Linux 2023 base has glibc 2.34 or later; any binary of the layer
# runs there. Static binaries (musl; upstream's blackbox_exporter) also run on Amazon
# Linux 2 runtimes. Lambda takes at most 15.
AL2023_RUNTIMES = [
    "provided.al2023",
    "python3.12",
    "python3.13",
    "python3.14",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "java21",
    "java25",
    "dotnet8",
    "ruby3.3",
    "ruby3.4",
]
AL2_RUNTIMES = ["provided.al2", "python3.11", "java17"]
ARCHS = ("x86_64", "arm64")
STATEMENT_ID = "lambda-blackbox-public"


def workspace_version(root):
    text = open(os.path.join(root, "Cargo.toml")).read().split("[workspace.package]", 1)[1]
    for line in text.splitlines():
        if line.startswith("version"):
            return line.split('"')[1]
    raise SystemExit("publish: no version in Cargo.toml [workspace.package]")


def runtimes_for(manifest):
    """All runtimes when every binary is static; Amazon Linux 2023 ones otherwise."""
    if all(manifest["static"].values()):
        return AL2023_RUNTIMES + AL2_RUNTIMES
    return list(AL2023_RUNTIMES)


def description(manifest):
    bb = manifest["blackbox_exporter"]
    return (
        f"lambda-blackbox {manifest['version']} ({manifest['arch']}): "
        f"blackbox_exporter {bb['version']} as a Lambda extension, sha256 {manifest['sha256'][:12]}"
    )[:256]


def latest_version(client, layer_name):
    """The newest published version of layer_name (get-layer-version output), or None."""
    newest = None
    for page in client.get_paginator("list_layer_versions").paginate(LayerName=layer_name):
        for v in page.get("LayerVersions", []):
            if newest is None or v["Version"] > newest["Version"]:
                newest = v
    if newest is None:
        return None
    return client.get_layer_version(LayerName=layer_name, VersionNumber=newest["Version"])


def is_public(client, layer_name, version):
    from botocore.exceptions import ClientError

    try:
        policy = client.get_layer_version_policy(LayerName=layer_name, VersionNumber=version)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    statements = json.loads(policy.get("Policy") or "{}").get("Statement", [])
    return any(
        s.get("Principal") in ("*", {"AWS": "*"})
        and "lambda:GetLayerVersion" in ([s["Action"]] if isinstance(s.get("Action"), str) else s.get("Action", []))
        for s in statements
    )


def publish_one(session, region, manifest, zip_path, layer_name, public):
    """Publishes (or reuses) one layer version. Returns (arn, what happened)."""
    client = session.client("lambda", region_name=region)
    latest = latest_version(client, layer_name)
    if latest is not None and latest["Content"]["CodeSha256"] == manifest["code_sha256"]:
        arn, version, done = latest["LayerVersionArn"], latest["Version"], "unchanged"
    else:
        with open(zip_path, "rb") as f:
            published = client.publish_layer_version(
                LayerName=layer_name,
                Description=description(manifest),
                Content={"ZipFile": f.read()},
                CompatibleRuntimes=runtimes_for(manifest),
                CompatibleArchitectures=[manifest["arch"]],
                LicenseInfo="Apache-2.0",
            )
        got = published["Content"]["CodeSha256"]
        if got != manifest["code_sha256"]:
            raise RuntimeError(f"Lambda reports CodeSha256 {got}, the zip's is {manifest['code_sha256']}")
        arn, version, done = published["LayerVersionArn"], published["Version"], "published"
    if public:
        if is_public(client, layer_name, version):
            done += ", public"
        else:
            client.add_layer_version_permission(
                LayerName=layer_name,
                VersionNumber=version,
                StatementId=STATEMENT_ID,
                Action="lambda:GetLayerVersion",
                Principal="*",
            )
            done += ", made public"
    return arn, done


def read_layers(path):
    """An earlier run's layers.json (region -> arch -> ARN), or {} when there is none."""
    try:
        with open(path) as f:
            layers = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise SystemExit(f"publish: {path}: cannot read it ({e}); move it away or give --out")
    if not (isinstance(layers, dict) and all(
        isinstance(by_arch, dict) and all(isinstance(a, str) for a in by_arch.values()) for by_arch in layers.values()
    )):
        raise SystemExit(f"publish: {path} is not a layers.json (region -> arch -> ARN); move it away or give --out")
    return layers


def main(argv):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", required=True, help="space- or comma-separated region names")
    parser.add_argument("--archs", default="x86_64 arm64")
    parser.add_argument("--public", action="store_true", help="grant lambda:GetLayerVersion to principal *")
    parser.add_argument("--dist", default=os.path.join(root, "dist"))
    parser.add_argument("--layer-name", default="lambda-blackbox")
    parser.add_argument("--out", help="default: DIST/layers.json")
    args = parser.parse_args(argv[1:])
    regions = [r for r in args.regions.replace(",", " ").split() if r]
    archs = [a for a in args.archs.replace(",", " ").split() if a]
    if not regions:
        parser.error("no regions given")
    for arch in archs:
        if arch not in ARCHS:
            parser.error(f"architecture {arch!r}: expected x86_64 or arm64")
    out = args.out or os.path.join(args.dist, "layers.json")

    try:
        import boto3
    except ImportError:
        raise SystemExit("publish: needs boto3 (python3 -m pip install boto3)")

    previous = read_layers(out)
    version = workspace_version(root)
    manifests = {}
    for arch in archs:
        base = os.path.join(args.dist, f"lambda-blackbox-{version}-{arch}")
        try:
            with open(base + ".json") as f:
                manifests[arch] = (json.load(f), base + ".zip")
        except OSError as e:
            raise SystemExit(f"publish: {e.filename}: {e.strerror}; build it with `make layer ARCH={arch}`")
        if not os.path.isfile(base + ".zip"):
            raise SystemExit(f"publish: {base}.zip is missing; build it with `make layer ARCH={arch}`")

    session = boto3.session.Session()
    layers, failures = {}, []
    for region in regions:
        for arch in archs:
            manifest, zip_path = manifests[arch]
            layer_name = f"{args.layer_name}-{arch}"
            try:
                arn, done = publish_one(session, region, manifest, zip_path, layer_name, args.public)
            except Exception as e:  # one region's failure must not stop the others
                failures.append((region, arch, e))
                print(f"{region:<16} {arch:<7} FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                continue
            layers.setdefault(region, {})[arch] = arn
            print(f"{region:<16} {arch:<7} {arn}  ({done})", flush=True)

    # What earlier runs published for other regions and architectures (or what failed
    # this time) stays: a run for fewer regions must not forget the rest.
    merged = {region: dict(by_arch) for region, by_arch in previous.items()}
    for region, by_arch in layers.items():
        merged.setdefault(region, {}).update(by_arch)
    kept = sum(len(a) for a in merged.values()) - sum(len(a) for a in layers.values())
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(merged, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {out}" + (f" (kept {kept} of earlier runs)" if kept else ""))
    if failures:
        print(
            f"publish: {len(failures)} of {len(regions) * len(archs)} failed: "
            + ", ".join(f"{r}/{a}" for r, a, _ in failures),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
