"""layer/scripts/blackbox-exporter-bin.sh: the upstream release is used only when its
tarball's SHA-256 matches (the pinned sum, or the release's sha256sums.txt for an unpinned
version), its LICENSE and NOTICE come with it, and an override for the wrong architecture
is refused. The "release" here is a directory served with file:// URLs."""

import hashlib
import io
import os
import pathlib
import subprocess
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "layer/scripts/blackbox-exporter-bin.sh"
# The default release (0.28.0) and its pinned amd64 sum.
DEFAULT_VERSION = "0.28.0"
PINNED_AMD64 = "caf5d242fb1cf6d5cb678f3f799f22703d4fafea26b03dcbbd7e1f1825e06329"


def elf(machine):
    header = bytearray(64)
    header[:7] = b"\x7fELF\x02\x01\x01"
    header[18] = machine
    return bytes(header)


def release(tmp_path, version, go_arch="amd64", machine=0x3E):
    """A release directory like GitHub's: v<version>/<name>.tar.gz; returns (base, sha256)."""
    name = f"blackbox_exporter-{version}.linux-{go_arch}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member, data, mode in [
            ("blackbox_exporter", elf(machine) + b"fake", 0o755),
            ("LICENSE", b"tarball licence\n", 0o644),
            ("NOTICE", b"tarball notice\n", 0o644),
        ]:
            info = tarfile.TarInfo(f"{name}/{member}")
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    base = tmp_path / "release"
    (base / f"v{version}").mkdir(parents=True, exist_ok=True)
    tarball = base / f"v{version}" / f"{name}.tar.gz"
    tarball.write_bytes(buf.getvalue())
    return base, hashlib.sha256(buf.getvalue()).hexdigest(), f"{name}.tar.gz"


def run(tmp_path, **env):
    info = tmp_path / "info"
    full = {k: v for k, v in os.environ.items() if not k.startswith("BLACKBOX_")}
    full.update(BLACKBOX_CACHE_DIR=str(tmp_path / "cache"), BLACKBOX_INFO_FILE=str(info), ARCH="x86_64")
    full.update(env)
    result = subprocess.run([str(SCRIPT)], env=full, capture_output=True, text=True, timeout=120)
    fields = {}
    if info.exists():
        for line in info.read_text().splitlines():
            k, _, v = line.partition("=")
            fields[k] = v
    return result, fields


def test_a_tarball_that_does_not_match_the_pinned_sum_is_refused(tmp_path):
    base, got, _ = release(tmp_path, DEFAULT_VERSION)
    result, _ = run(tmp_path, BLACKBOX_PREFER="upstream", BLACKBOX_RELEASE_BASE=f"file://{base}")
    assert result.returncode != 0
    assert f"has SHA-256 {got}, expected {PINNED_AMD64}: not used" in result.stderr, result.stderr
    assert not list((tmp_path / "cache").rglob("blackbox_exporter"))


def test_a_tarball_matching_its_sum_is_used_with_its_license_and_notice(tmp_path):
    base, got, _ = release(tmp_path, DEFAULT_VERSION)
    result, fields = run(
        tmp_path, BLACKBOX_PREFER="upstream", BLACKBOX_RELEASE_BASE=f"file://{base}", BLACKBOX_EXPORTER_SHA256=got
    )
    assert result.returncode == 0, result.stderr
    binary = pathlib.Path(result.stdout.strip())
    assert binary.name == "blackbox_exporter" and binary.is_file()
    assert fields["blackbox_source"] == "upstream" and fields["blackbox_version"] == DEFAULT_VERSION
    assert pathlib.Path(fields["blackbox_license"]).read_text() == "tarball licence\n"
    assert pathlib.Path(fields["blackbox_notice"]).read_text() == "tarball notice\n"


def test_an_unpinned_version_is_checked_against_the_releases_sha256sums(tmp_path):
    base, got, name = release(tmp_path, "9.9.9")
    sums = base / "v9.9.9" / "sha256sums.txt"
    sums.write_text(f"{'0' * 64}  {name}\n")
    env = dict(BLACKBOX_PREFER="upstream", BLACKBOX_RELEASE_BASE=f"file://{base}", BLACKBOX_EXPORTER_VERSION="9.9.9")
    result, _ = run(tmp_path, **env)
    assert result.returncode != 0 and "not used" in result.stderr, result.stderr

    sums.write_text(f"{'1' * 64}  other.tar.gz\n{got}  {name}\n")
    result, fields = run(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert fields["blackbox_version"] == "9.9.9"


def test_an_override_for_the_other_architecture_is_refused(tmp_path):
    x86 = tmp_path / "x86_blackbox"
    x86.write_bytes(elf(0x3E))
    x86.chmod(0o755)
    result, _ = run(tmp_path, ARCH="arm64", BLACKBOX_EXPORTER_BIN_ARM64=str(x86))
    assert result.returncode != 0
    assert "is not an ELF binary for arm64" in result.stderr, result.stderr

    result, fields = run(tmp_path, ARCH="x86_64", BLACKBOX_EXPORTER_BIN_X86_64=str(x86))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(x86) and fields["blackbox_source"] == "local"
