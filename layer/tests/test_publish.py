"""`make publish` against a moto server on loopback: the layer versions and ARNs it
creates per region and architecture, dist/layers.json, the public permission, no
republishing of unchanged zips, and one failing region not stopping the others.

Needs moto's server (`pip install 'moto[server]'`) and boto3; `make test` runs it."""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ZIP_LAYER = ROOT / "layer/scripts/zip-layer.py"
ACCOUNT = "123456789012"  # moto's
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
ARCHS = ["x86_64", "arm64"]
VERSION = next(
    line.split('"')[1]
    for line in (ROOT / "Cargo.toml").read_text().split("[workspace.package]", 1)[1].splitlines()
    if line.startswith("version")
)


def lambda_client(region):
    import boto3

    return boto3.client("lambda", region_name=region)


# An ELF header with no program headers: "static" to the manifest's check.
STATIC_ELF = b"\x7fELF\x02\x01\x01" + bytes(9) + (2).to_bytes(2, "little") + bytes(13) + (64).to_bytes(8, "little")
STATIC_ELF = STATIC_ELF.ljust(0x36, b"\0") + (56).to_bytes(2, "little") + (0).to_bytes(2, "little")
STATIC_ELF = STATIC_ELF.ljust(64, b"\0")


def make_zip(dist, arch, stamp="1", blackbox_static=True):
    """A small layer zip and its manifest, made by the same tool as `make layer`'s."""
    src = dist / f"src-{arch}"
    shutil.rmtree(src, ignore_errors=True)
    for name in ("extensions/blackbox-extension", "bootstrap", "bin/blackbox_exporter"):
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        body = STATIC_ELF if (blackbox_static or name != "bin/blackbox_exporter") else b"\x7fELF dynamic"
        path.write_bytes(body + f"{arch} {name} {stamp}".encode())
        path.chmod(0o755)
    (src / "blackbox").mkdir()
    (src / "blackbox/blackbox.yml").write_text("modules: {}\n")
    base = dist / f"lambda-blackbox-{VERSION}-{arch}"
    subprocess.run(
        [sys.executable, str(ZIP_LAYER), str(src), f"{base}.zip", "--manifest", f"{base}.json",
         "--arch", arch, "--version", VERSION, "--blackbox-version", "0.28.0", "--blackbox-source", "upstream"],
        check=True, stdout=subprocess.DEVNULL,
    )
    shutil.rmtree(src)
    return json.loads((dist / f"{base.name}.json").read_text())


def make_publish(dist, regions, archs=ARCHS, public=True):
    """`make publish-zips`: `make publish` without building the zips first."""
    cmd = ["make", "-s", "--no-print-directory", "-C", str(ROOT), "publish-zips",
           f"DIST={dist}", f"REGIONS={' '.join(regions)}", f"ARCHS={' '.join(archs)}"]
    if public:
        cmd.append("PUBLIC=1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def arn(region, arch, version):
    return f"arn:aws:lambda:{region}:{ACCOUNT}:layer:lambda-blackbox-{arch}:{version}"


def test_publishes_one_public_version_per_region_and_arch_and_writes_layers_json(aws, tmp_path):
    manifests = {arch: make_zip(tmp_path, arch) for arch in ARCHS}
    run = make_publish(tmp_path, REGIONS)
    assert run.returncode == 0, run.stdout + run.stderr

    layers = json.loads((tmp_path / "layers.json").read_text())
    assert layers == {r: {a: arn(r, a, 1) for a in ARCHS} for r in REGIONS}

    for region in REGIONS:
        client = lambda_client(region)
        for arch in ARCHS:
            name = f"lambda-blackbox-{arch}"
            got = client.get_layer_version(LayerName=name, VersionNumber=1)
            assert got["LayerVersionArn"] == arn(region, arch, 1)
            assert got["Content"]["CodeSha256"] == manifests[arch]["code_sha256"]
            assert got["CompatibleArchitectures"] == [arch]
            runtimes = got["CompatibleRuntimes"]
            assert {"provided.al2023", "provided.al2", "python3.12", "python3.13", "nodejs20.x",
                    "nodejs22.x", "java21"} <= set(runtimes)
            assert len(runtimes) <= 15
            assert "blackbox_exporter 0.28.0" in got["Description"]
            assert got["LicenseInfo"] == "Apache-2.0"

            policy = json.loads(client.get_layer_version_policy(LayerName=name, VersionNumber=1)["Policy"])
            (statement,) = policy["Statement"]
            assert statement["Principal"] == "*"
            assert statement["Action"] == "lambda:GetLayerVersion"
            assert statement["Effect"] == "Allow"
            assert statement["Resource"] == arn(region, arch, 1)


def test_a_rerun_republishes_only_changed_zips(aws, tmp_path):
    for arch in ARCHS:
        make_zip(tmp_path, arch)
    first = make_publish(tmp_path, REGIONS[:2])
    assert first.returncode == 0, first.stdout + first.stderr

    again = make_publish(tmp_path, REGIONS[:2])
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("(unchanged, public)") == 4, again.stdout
    for region in REGIONS[:2]:
        for arch in ARCHS:
            versions = lambda_client(region).list_layer_versions(LayerName=f"lambda-blackbox-{arch}")
            assert [v["Version"] for v in versions["LayerVersions"]] == [1]
    assert json.loads((tmp_path / "layers.json").read_text()) == {
        r: {a: arn(r, a, 1) for a in ARCHS} for r in REGIONS[:2]
    }

    # A new arm64 zip: only arm64 gets a version 2, public like the first.
    changed = make_zip(tmp_path, "arm64", stamp="2")
    third = make_publish(tmp_path, REGIONS[:2])
    assert third.returncode == 0, third.stdout + third.stderr
    layers = json.loads((tmp_path / "layers.json").read_text())
    for region in REGIONS[:2]:
        assert layers[region] == {"x86_64": arn(region, "x86_64", 1), "arm64": arn(region, "arm64", 2)}
        client = lambda_client(region)
        got = client.get_layer_version(LayerName="lambda-blackbox-arm64", VersionNumber=2)
        assert got["Content"]["CodeSha256"] == changed["code_sha256"]
        policy = json.loads(client.get_layer_version_policy(LayerName="lambda-blackbox-arm64", VersionNumber=2)["Policy"])
        assert [s["Principal"] for s in policy["Statement"]] == ["*"]


def test_a_run_for_fewer_regions_keeps_the_others_in_layers_json(aws, tmp_path):
    for arch in ARCHS:
        make_zip(tmp_path, arch)
    first = make_publish(tmp_path, REGIONS[:2])
    assert first.returncode == 0, first.stdout + first.stderr
    make_zip(tmp_path, "arm64", stamp="2")
    second = make_publish(tmp_path, REGIONS[2:], archs=["arm64"])
    assert second.returncode == 0, second.stdout + second.stderr
    assert "(kept 4 of earlier runs)" in second.stdout, second.stdout
    layers = json.loads((tmp_path / "layers.json").read_text())
    assert layers == {
        **{r: {a: arn(r, a, 1) for a in ARCHS} for r in REGIONS[:2]},
        REGIONS[2]: {"arm64": arn(REGIONS[2], "arm64", 1)},
    }

    (tmp_path / "layers.json").write_text("[1, 2]\n")
    refused = make_publish(tmp_path, REGIONS[:1], archs=["arm64"])
    assert refused.returncode != 0
    assert "layers.json is not a layers.json (region -> arch -> ARN); move it away or give --out" in refused.stderr
    assert (tmp_path / "layers.json").read_text() == "[1, 2]\n"


def test_one_failing_region_is_reported_and_the_others_go_through(aws, tmp_path):
    for arch in ARCHS:
        make_zip(tmp_path, arch)
    run = make_publish(tmp_path, ["us-east-1", "no_such_region!", "ap-southeast-2"])
    assert run.returncode != 0
    assert "no_such_region!" in run.stderr and "FAILED" in run.stderr, run.stderr
    assert "2 of 6 failed" in run.stderr, run.stderr
    layers = json.loads((tmp_path / "layers.json").read_text())
    assert layers == {r: {a: arn(r, a, 1) for a in ARCHS} for r in ("us-east-1", "ap-southeast-2")}
    for region in ("us-east-1", "ap-southeast-2"):
        for arch in ARCHS:
            lambda_client(region).get_layer_version(LayerName=f"lambda-blackbox-{arch}", VersionNumber=1)


def test_without_public_no_permission_and_glibc_blackbox_lists_al2023_runtimes_only(aws, tmp_path):
    from botocore.exceptions import ClientError

    make_zip(tmp_path, "arm64", blackbox_static=False)
    run = make_publish(tmp_path, ["eu-west-1"], archs=["arm64"], public=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads((tmp_path / "layers.json").read_text()) == {"eu-west-1": {"arm64": arn("eu-west-1", "arm64", 1)}}
    client = lambda_client("eu-west-1")
    with pytest.raises(ClientError) as denied:
        client.get_layer_version_policy(LayerName="lambda-blackbox-arm64", VersionNumber=1)
    assert denied.value.response["Error"]["Code"] == "ResourceNotFoundException"
    runtimes = client.get_layer_version(LayerName="lambda-blackbox-arm64", VersionNumber=1)["CompatibleRuntimes"]
    assert "provided.al2023" in runtimes and "provided.al2" not in runtimes

    # PUBLIC=1 on the unchanged zip makes the existing version public.
    run = make_publish(tmp_path, ["eu-west-1"], archs=["arm64"], public=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "(unchanged, made public)" in run.stdout, run.stdout
    policy = json.loads(client.get_layer_version_policy(LayerName="lambda-blackbox-arm64", VersionNumber=1)["Policy"])
    assert [s["Principal"] for s in policy["Statement"]] == ["*"]


def test_a_missing_zip_is_named(aws, tmp_path):
    run = make_publish(tmp_path, ["us-east-1"], archs=["x86_64"])
    assert run.returncode != 0
    assert f"lambda-blackbox-{VERSION}-x86_64" in run.stderr and "make layer ARCH=x86_64" in run.stderr, run.stderr
