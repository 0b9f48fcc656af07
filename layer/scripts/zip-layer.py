#!/usr/bin/env python3
"""Zips a layer directory reproducibly: the same files give the same bytes.

usage: zip-layer.py LAYER_DIR OUT.zip [--manifest OUT.json --arch ARCH --version V
                                       --blackbox-version V --blackbox-source SOURCE]

Entries are in sorted path order, directories in entries of their own; every entry has
the same timestamp (1980-01-01 00:00, the ZIP epoch), Unix modes normalised to 0755
(directories, and files executable by their owner) or 0644, no owner, no extra fields;
files are deflated at level 9. Lambda unpacks the zip at /opt keeping the modes.

With --manifest, also writes what `make publish` reads: the zip's SHA-256 (hex, and
base64 as Lambda's CodeSha256), its files, which ELF binaries are statically linked, and
blackbox_exporter's version and origin.
"""

import argparse
import base64
import hashlib
import json
import os
import stat
import struct
import sys
import zipfile

EPOCH = (1980, 1, 1, 0, 0, 0)
BINARIES = ("extensions/blackbox-extension", "bootstrap", "bin/blackbox_exporter")


def entries(root):
    """(archive name, path, is_dir) for everything under root, sorted by name."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                found.append((rel + "/", path, True))
            elif stat.S_ISREG(st.st_mode):
                found.append((rel, path, False))
            else:
                raise SystemExit(f"zip-layer: {path}: only files and directories may be in a layer")
    return sorted(found)


def zip_layer(root, out):
    tmp = out + ".tmp"
    found = entries(root)
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, path, is_dir in found:
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.create_system = 3  # Unix, so the modes below are read
            if is_dir:
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                zf.writestr(info, b"")
                continue
            mode = 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                zf.writestr(info, f.read(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(tmp, out)


def elf_static(data):
    """True for a 64-bit little-endian ELF image without a program interpreter (PT_INTERP)."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(struct.unpack_from("<I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))


def manifest(zip_path, arch, version, blackbox_version, blackbox_source):
    with open(zip_path, "rb") as f:
        raw = f.read()
    digest = hashlib.sha256(raw).digest()
    files, static = {}, {}
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            files[info.filename] = {"size": info.file_size, "mode": oct(info.external_attr >> 16 & 0o777)}
            if info.filename in BINARIES:
                static[info.filename] = elf_static(zf.read(info))
    return {
        "name": "lambda-blackbox",
        "version": version,
        "arch": arch,
        "zip": os.path.basename(zip_path),
        "size": len(raw),
        "sha256": digest.hex(),
        "code_sha256": base64.b64encode(digest).decode(),
        "blackbox_exporter": {
            "version": blackbox_version,
            "source": blackbox_source,
            "static": static.get("bin/blackbox_exporter", False),
        },
        "static": static,
        "files": files,
    }


def main(argv):
    parser = argparse.ArgumentParser(description="Zips a layer directory reproducibly.")
    parser.add_argument("layer_dir")
    parser.add_argument("out_zip")
    parser.add_argument("--manifest")
    parser.add_argument("--arch")
    parser.add_argument("--version")
    parser.add_argument("--blackbox-version", default="unknown")
    parser.add_argument("--blackbox-source", default="local")
    args = parser.parse_args(argv[1:])
    if not os.path.isdir(args.layer_dir):
        parser.error(f"{args.layer_dir} is not a directory")
    if args.manifest and not (args.arch and args.version):
        parser.error("--manifest needs --arch and --version")
    os.makedirs(os.path.dirname(os.path.abspath(args.out_zip)), exist_ok=True)
    zip_layer(args.layer_dir, args.out_zip)
    if args.manifest:
        m = manifest(args.out_zip, args.arch, args.version, args.blackbox_version, args.blackbox_source)
        with open(args.manifest, "w") as f:
            json.dump(m, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"{args.out_zip}: {m['size']} bytes, sha256 {m['sha256']}")
        for name, f in sorted(m["files"].items()):
            linkage = ""
            if name in m["static"]:
                linkage = "  (static)" if m["static"][name] else "  (dynamically linked)"
            print(f"  {f['mode'][2:]} {f['size']:>10}  {name}{linkage}")
        print(f"  blackbox_exporter {args.blackbox_version} from {args.blackbox_source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
