"""The lab's base image: Debian 12 made with debootstrap (no image registry is reachable),
named after a digest of its recipe and cached until the recipe changes.

Layer: command, part of pmops.lab; imports pmops.lab.base only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from pmops import PmopsError, progress
from pmops.lab.base import STATE_DIR, _out, podman, podman_env
from pmops.paths import ROOT

# Overridable so tests can build a throw-away image beside the cached one.
IMAGE_REPO = os.environ.get("PMOPS_LAB_IMAGE_REPO", "localhost/pmops-lab-base")
BUILD_DIR = STATE_DIR / "build"
RECIPE = ROOT / "lab" / "image" / "recipe.conf"
SETUP_SCRIPT = ROOT / "lab" / "image" / "setup.sh"


def apt_mirror() -> str:
    """The Debian mirror this machine uses (its own apt sources), so the lab follows it."""
    candidates = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("URIs:") and "debian-security" not in line:
                uri = line.split(None, 1)[1].split()[0]
                if uri.rstrip("/").endswith("/debian"):
                    return uri.rstrip("/")
            if line.startswith("deb ") and "debian-security" not in line:
                for word in line.split():
                    if word.startswith("http") and word.rstrip("/").endswith("/debian"):
                        return word.rstrip("/")
    return "http://deb.debian.org/debian"


def read_recipe() -> dict:
    recipe = {}
    for line in RECIPE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            recipe[key.strip()] = value.strip()
    for key in ("suite", "variant", "include"):
        if key not in recipe:
            raise PmopsError(f"{RECIPE.relative_to(ROOT)} lacks '{key}='")
    return recipe


def image_tag() -> str:
    """The image is named after a digest of its recipe (packages, set-up script, mirror)."""
    digest = hashlib.sha256()
    digest.update(RECIPE.read_bytes())
    digest.update(SETUP_SCRIPT.read_bytes())
    digest.update(apt_mirror().encode())
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


def image_exists(tag: str) -> bool:
    return podman("image", "exists", tag, check=False).returncode == 0


def remove_build_dir() -> None:
    """Remove a build tree, first unmounting what an interrupted debootstrap left mounted."""
    if not BUILD_DIR.exists():
        return
    prefix = str(BUILD_DIR.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount], check=False)
    shutil.rmtree(BUILD_DIR)


def build_image(tag: str) -> None:
    if shutil.which("debootstrap") is None:
        raise PmopsError("debootstrap is not installed; run `make setup`")
    recipe = read_recipe()
    mirror = apt_mirror()
    # Leftovers of an interrupted build are never reused: start clean.
    if BUILD_DIR.exists():
        progress("removing the leftovers of an interrupted image build")
    remove_build_dir()
    rootfs = BUILD_DIR / "rootfs"
    rootfs.mkdir(parents=True)
    progress(f"building the lab image {tag} with debootstrap from {mirror}, then its updates (two or three minutes)")
    cmd = ["debootstrap", f"--variant={recipe['variant']}", f"--include={recipe['include']}",
           recipe["suite"], str(rootfs), mirror]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace").strip().splitlines()[-15:]
        raise PmopsError("debootstrap failed:\n  " + "\n  ".join(tail))
    shutil.copy(SETUP_SCRIPT, rootfs / "tmp" / "pmops-setup.sh")
    proc = subprocess.run(["chroot", str(rootfs), "/bin/sh", "/tmp/pmops-setup.sh", mirror, recipe["suite"]],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise PmopsError("image set-up in chroot failed: " + proc.stdout.decode(errors="replace"))
    (rootfs / "tmp" / "pmops-setup.sh").unlink()
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    imp = subprocess.run(
        ["podman", "import", "--change", "CMD=/sbin/init", "--change", "STOPSIGNAL=SIGRTMIN+3",
         "-", tag],
        stdin=tar.stdout, env=podman_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tar.wait()
    if imp.returncode != 0 or tar.returncode != 0:
        raise PmopsError("podman import failed: " + imp.stderr.decode(errors="replace"))
    podman("tag", tag, f"{IMAGE_REPO}:latest")
    remove_build_dir()


# The mirror the image's apt sources name, for the lab inventory's approved repositories
# (hardening_apt_repositories, HARD-20).
MIRROR_FILE = STATE_DIR / "apt_mirror"


def ensure_image() -> tuple[str, bool]:
    tag = image_tag()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    MIRROR_FILE.write_text(apt_mirror() + "\n")
    if image_exists(tag):
        # Keep the :latest alias (molecule uses it) on the current recipe.
        podman("tag", tag, f"{IMAGE_REPO}:latest")
        return tag, False
    build_image(tag)
    return tag, True


def remove_images() -> None:
    """Remove every tag of the lab image (down --purge-image)."""
    for image in _out(podman("images", "--format", "{{.Repository}}:{{.Tag}}",
                             "--filter", f"reference={IMAGE_REPO}")).split():
        podman("rmi", "--force", image, check=False)
    progress("removed the cached lab image")
