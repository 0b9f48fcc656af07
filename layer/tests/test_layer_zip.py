"""The layer zips that `make layer` wrote (dist/*.zip with their manifests): their
contents, modes and licence files, and that zipping is reproducible: the same files give
the same bytes whatever their timestamps, permission noise or directory order.

`make test` runs this after building both zips; LAYER_ZIP_DIST names the directory
(dist by default)."""

import hashlib
import base64
import json
import os
import pathlib
import stat
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIST = pathlib.Path(os.environ.get("LAYER_ZIP_DIST", ROOT / "dist"))
ZIP_LAYER = ROOT / "layer/scripts/zip-layer.py"
VERSION = next(
    line.split('"')[1]
    for line in (ROOT / "Cargo.toml").read_text().split("[workspace.package]", 1)[1].splitlines()
    if line.startswith("version")
)
NOTICE = b"The Blackbox exporter for blackbox probing metrics\nCopyright 2012-2016 The Prometheus Authors\n"
FILES = {
    "extensions/blackbox-extension": 0o755,
    "bootstrap": 0o755,
    "bin/blackbox_exporter": 0o755,
    "blackbox/blackbox.yml": 0o644,
    "blackbox/LICENSE": 0o644,
    "blackbox/NOTICE": 0o644,
}
ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}


def zips():
    found = sorted(DIST.glob(f"lambda-blackbox-{VERSION}-*.zip"))
    if not found:
        pytest.fail(f"no {DIST}/lambda-blackbox-{VERSION}-*.zip: run `make layer` (or `make test`) first")
    return found


def arch_of(path):
    return path.name[len(f"lambda-blackbox-{VERSION}-") : -len(".zip")]


def rezip(src_dir, out):
    subprocess.run([sys.executable, str(ZIP_LAYER), str(src_dir), str(out)], check=True)
    return out.read_bytes()


@pytest.mark.parametrize("path", zips(), ids=lambda p: arch_of(p))
def test_zip_holds_the_layer_with_its_modes_and_fixed_timestamps(path):
    arch = arch_of(path)
    assert arch in ELF_MACHINE, f"{path.name}: unknown architecture {arch}"
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names), "entries are in sorted order"
        files = {i.filename: i for i in infos if not i.is_dir()}
        assert set(files) == set(FILES)
        dirs = {i.filename for i in infos if i.is_dir()}
        assert dirs == {"bin/", "blackbox/", "extensions/"}
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
            assert info.create_system == 3, info.filename
            mode = info.external_attr >> 16
            if info.is_dir():
                assert stat.S_ISDIR(mode) and stat.S_IMODE(mode) == 0o755, info.filename
            else:
                assert stat.S_ISREG(mode), info.filename
                assert stat.S_IMODE(mode) == FILES[info.filename], f"{info.filename}: {oct(mode)}"
        for name in ("extensions/blackbox-extension", "bootstrap", "bin/blackbox_exporter"):
            head = zf.read(name)[:20]
            assert head[:4] == b"\x7fELF", name
            assert int.from_bytes(head[18:20], "little") == ELF_MACHINE[arch], f"{name} is not for {arch}"
        license_text = zf.read("blackbox/LICENSE").decode()
        assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
        assert zf.read("blackbox/NOTICE") == NOTICE
        assert zf.read("blackbox/blackbox.yml") == (ROOT / "layer/blackbox/blackbox.yml").read_bytes()


@pytest.mark.parametrize("path", zips(), ids=lambda p: arch_of(p))
def test_manifest_matches_the_zip(path):
    manifest = json.loads(path.with_suffix(".json").read_text())
    digest = hashlib.sha256(path.read_bytes()).digest()
    assert manifest["sha256"] == digest.hex()
    assert manifest["code_sha256"] == base64.b64encode(digest).decode()
    assert manifest["size"] == path.stat().st_size
    assert manifest["arch"] == arch_of(path)
    assert manifest["version"] == VERSION
    assert manifest["static"]["extensions/blackbox-extension"] is True
    assert manifest["static"]["bootstrap"] is True
    assert manifest["blackbox_exporter"]["version"] not in ("", "unknown")
    assert manifest["blackbox_exporter"]["source"] in ("upstream", "debian", "local")


@pytest.mark.parametrize("path", zips(), ids=lambda p: arch_of(p))
def test_the_same_files_zip_to_the_same_bytes(path, tmp_path):
    """Unzip, scramble what a zip must not depend on (timestamps, group/other bits, umask,
    creation order), zip again: byte for byte the zip that `make layer` wrote."""
    original = path.read_bytes()
    src = tmp_path / "layer"
    with zipfile.ZipFile(path) as zf:
        # Create in reverse order, so directory listing order differs from the original.
        for info in reversed(zf.infolist()):
            target = src / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            mode = stat.S_IMODE(info.external_attr >> 16)
            target.chmod(0o700 if mode & 0o100 else 0o600)  # no group/other bits
    for i, p in enumerate(sorted(src.rglob("*"))):
        os.utime(p, (1_700_000_000 + i * 7919, 1_700_000_000 + i * 7919))
    assert rezip(src, tmp_path / "again.zip") == original


def test_zipping_refuses_what_a_layer_cannot_hold(tmp_path):
    src = tmp_path / "layer"
    src.mkdir()
    (src / "bootstrap").write_text("#!/bin/sh\n")
    (src / "link").symlink_to("bootstrap")
    result = subprocess.run(
        [sys.executable, str(ZIP_LAYER), str(src), str(tmp_path / "out.zip")], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "only files and directories" in result.stderr
    assert not (tmp_path / "out.zip").exists()
    assert not (tmp_path / "out.zip.tmp").exists()
