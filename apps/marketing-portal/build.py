#!/usr/bin/env python3
"""Build the marketing portal's release artifacts: a tarball and a manifest per release.

    python3 apps/marketing-portal/build.py [--out DIR] [VERSION ...]

The tarball is reproducible (sorted entries, fixed owner and mtime), so building the same
release twice gives the same sha256. The manifest names the release (the deploy takes the
release's identity from it, never from file times) and carries the tarball's sha256, which
the app role checks before anything on a host changes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "marketing-portal"
EPOCH = 1_700_000_000  # fixed mtime of every entry


def releases() -> dict:
    return json.loads((HERE / "releases.json").read_text())["releases"]


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def build(version: str, out: Path) -> dict:
    spec = releases()[version]
    schema = int(spec["schema"])
    files = {}
    for path in sorted((HERE / "portal").rglob("*")):
        rel = path.relative_to(HERE).as_posix()
        if path.is_dir() or "__pycache__" in rel:
            continue
        if rel.startswith("portal/migrations/") and int(path.name[:3]) > schema:
            continue  # a release ships only the migrations of its own schema
        files[rel] = path.read_bytes()
    release = {"name": NAME, "version": version, "schema": schema, "settings": spec.get("settings", {})}
    files["release.json"] = (json.dumps(release, indent=2, sort_keys=True) + "\n").encode()
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=EPOCH) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(files):
                _add(tar, name, files[name])
    data = raw.getvalue()
    out.mkdir(parents=True, exist_ok=True)
    tarball = out / f"{NAME}-{version}.tar.gz"
    tarball.write_bytes(data)
    manifest = {
        "name": NAME,
        "version": version,
        "schema": schema,
        "artifact": tarball.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "files": len(files),
        "notes": spec.get("notes", ""),
    }
    (out / f"{NAME}-{version}.manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "dist")
    parser.add_argument("versions", nargs="*", help="default: every release in releases.json")
    args = parser.parse_args(argv)
    known = releases()
    for version in args.versions or sorted(known):
        if version not in known:
            print(f"build.py: unknown release {version}; releases.json has {', '.join(sorted(known))}", file=sys.stderr)
            return 2
        manifest = build(version, args.out)
        print(f"built {manifest['artifact']}  sha256 {manifest['sha256']}  ({manifest['size']} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
