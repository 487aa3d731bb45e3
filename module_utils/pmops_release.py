"""Release bookkeeping for pmops_app_release (pure Python, unit-tested).

An application root holds:

    releases/<version>/     one unpacked artifact per release, never changed after unpacking
    current -> releases/<version>
    .pmops-releases.json    which releases were installed (with sha256, in order) and
                            which were activated (in order)

A release's identity is the version from its manifest and its sha256, never a file time:
"previous" is the release activated before the current one, and pruning removes the
releases installed earliest, never the current or the previous one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import time

STATE_FILE = ".pmops-releases.json"
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")


class ReleaseError(Exception):
    pass


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION.match(version) or ".." in version:
        raise ReleaseError(f"version {version!r} is not a release name (letters, digits, . _ + -)")
    return version


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_state(root: str) -> dict:
    try:
        with open(os.path.join(root, STATE_FILE)) as handle:
            state = json.load(handle)
    except FileNotFoundError:
        state = {}
    state.setdefault("installed", [])
    state.setdefault("activations", [])
    state.setdefault("failed", [])
    return state


def save_state(root: str, state: dict) -> None:
    path = os.path.join(root, STATE_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def current(root: str) -> str | None:
    link = os.path.join(root, "current")
    if not os.path.islink(link):
        return None
    target = os.readlink(link)
    return os.path.basename(target.rstrip("/"))


def installed(root: str, state: dict) -> list[dict]:
    """Releases on disk in installation order (unknown directories last, by name)."""
    on_disk = set()
    releases_dir = os.path.join(root, "releases")
    if os.path.isdir(releases_dir):
        on_disk = {d for d in os.listdir(releases_dir)
                   if os.path.isdir(os.path.join(releases_dir, d)) and not d.startswith(".")}
    known = [r for r in state["installed"] if r["version"] in on_disk]
    strays = sorted(on_disk - {r["version"] for r in known})
    return known + [{"version": v, "sha256": None} for v in strays]


def previous(root: str, state: dict) -> str | None:
    """The release activated before the current one that is still on disk and did not fail
    its health check (a release a deploy rolled back from is never "previous")."""
    now = current(root)
    present = {r["version"] for r in installed(root, state)}
    for entry in reversed(state["activations"]):
        if entry["version"] != now and entry["version"] in present and entry["version"] not in state["failed"]:
            return entry["version"]
    return None


def to_prune(root: str, state: dict, keep: int) -> list[str]:
    """Releases beyond `keep`, failed ones first, then the earliest installed."""
    if keep < 2:
        raise ReleaseError("keep must be at least 2 (the current release and one to roll back to)")
    protected = {current(root), previous(root, state)}
    versions = [r["version"] for r in installed(root, state)]
    versions.sort(key=lambda v: v not in state["failed"])
    excess = len(versions) - keep
    doomed = []
    for version in versions:
        if excess <= 0:
            break
        if version in protected:
            continue
        doomed.append(version)
        excess -= 1
    return doomed


def safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Regular files and directories with relative paths inside the release; anything else refused."""
    members = []
    for member in tar.getmembers():
        name = member.name
        if name.startswith("/") or ".." in name.split("/"):
            raise ReleaseError(f"artifact entry {name!r} points outside the release")
        if not (member.isfile() or member.isdir()):
            raise ReleaseError(f"artifact entry {name!r} is not a regular file or directory")
        members.append(member)
    return members


def unpack(root: str, version: str, artifact: str, sha256: str) -> None:
    """Unpack the artifact into releases/<version> (atomically: a temp dir renamed)."""
    releases_dir = os.path.join(root, "releases")
    os.makedirs(releases_dir, mode=0o755, exist_ok=True)
    final = os.path.join(releases_dir, version)
    tmp = os.path.join(releases_dir, f".{version}.unpacking")
    shutil.rmtree(tmp, ignore_errors=True)  # a leftover of an interrupted run
    os.mkdir(tmp, 0o755)
    try:
        with tarfile.open(artifact, "r:*") as tar:
            members = safe_members(tar)
            for member in members:
                member.mode = 0o755 if member.isdir() else (0o755 if member.mode & 0o100 else 0o644)
                member.uid = member.gid = 0
            tar.extractall(tmp, members=members, numeric_owner=True)  # noqa: S202 (members checked above)
        for dirpath, dirnames, _ in os.walk(tmp):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def activate(root: str, version: str) -> None:
    """Point `current` at releases/<version> with one rename (never a moment without it)."""
    link = os.path.join(root, "current")
    tmp = os.path.join(root, ".current.tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join("releases", version), tmp)
    os.replace(tmp, link)


def record_install(state: dict, version: str, sha256: str) -> None:
    state["installed"] = [r for r in state["installed"] if r["version"] != version]
    state["installed"].append({"version": version, "sha256": sha256, "at": int(time.time())})


def record_activation(state: dict, version: str) -> None:
    state["failed"] = [v for v in state["failed"] if v != version]
    state["activations"].append({"version": version, "at": int(time.time())})
    state["activations"] = state["activations"][-50:]


def summary(root: str, state: dict) -> dict:
    now = current(root)
    return {
        "current": now,
        "previous": previous(root, state),
        "releases": [dict(r, active=r["version"] == now, failed=r["version"] in state["failed"])
                     for r in installed(root, state)],
    }
