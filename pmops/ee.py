"""The execution environment: the container image AWX, Automation Platform and `pmops --ee`
run this project's playbooks in, built here with no image registry.

ansible-builder (ee/execution-environment.yml, its version 3 schema) writes the build
context; podman builds it on the lab's own Debian 12 image (debootstrap, pmops.lab.image)
with --pull=never, and pip installs the project's lock from the wheelhouse, never an index.
The image is named after a digest of what goes into it (ee/, requirements.txt, the base
image's tag) and cached until that changes, as the lab image is.

Layer: command (it builds on pmops.lab.image, another command; nothing imports it but cli).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from pmops import PmopsError, progress
from pmops.lab import image as lab_image
from pmops.lab.base import podman, podman_env
from pmops.paths import CACHE, ROOT

EE_DIR = ROOT / "ee"
DEFINITION = EE_DIR / "execution-environment.yml"
REQUIREMENTS = ROOT / "requirements.txt"
# Overridable so tests can build a throw-away image beside the cached one.
IMAGE_REPO = os.environ.get("PMOPS_EE_IMAGE_REPO", "localhost/pmops-ee")
WHEELHOUSE = CACHE / "wheelhouse"
CONTEXT = CACHE / "ee" / "context"
BUILD_LOG = CACHE / "ee" / "build.log"
# podman's line for each step of the Containerfile, "[2/3] STEP 5/9: RUN ..."
STEP = re.compile(r"^(\[\d+/\d+\] )?STEP \d+/\d+")
# What the image must hold, asked of it once it is built (a wrong base fails here, named).
SELF_TEST = ("ansible-playbook --version | head -1 && ansible-runner --version && ssh -V && "
             "python3 -c 'import mitogen, passlib, bcrypt, testinfra, ansible_collections.community.general'")


def image_tag(base_tag: str) -> str:
    """The image is named after a digest of its definition, the lock and the base image."""
    digest = hashlib.sha256()
    for path in sorted(p for p in EE_DIR.iterdir() if p.is_file()) + [REQUIREMENTS]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(base_tag.encode())
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


def build_wheelhouse() -> None:
    """Wheels of requirements.txt in .cache/wheelhouse (what `make wheelhouse` makes): the build
    installs from them with no index. pip skips the wheels already there."""
    progress(f"wheels of requirements.txt in {WHEELHOUSE.relative_to(ROOT)} (fast when they are there)")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                           "-r", str(REQUIREMENTS), "-w", str(WHEELHOUSE)],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise PmopsError("pip wheel -r requirements.txt failed:\n  "
                         + "\n  ".join(proc.stdout.strip().splitlines()[-10:]))


def _builder() -> str:
    path = Path(sys.executable).parent / "ansible-builder"
    if not path.exists():
        raise PmopsError("ansible-builder is not installed in this virtualenv; run `make setup`")
    return str(path)


def build(tag: str, base_tag: str) -> None:
    """ansible-builder build, its output kept in .cache/ee/build.log and its steps shown."""
    BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    argv = [_builder(), "build", "--file", str(DEFINITION), "--context", str(CONTEXT), "--tag", tag,
            "--container-runtime", "podman", "--build-arg", f"EE_BASE_IMAGE={base_tag}", "--verbosity", "3",
            # one layer over the base: the wheelhouse the build copies in and removes leaves nothing
            "--squash", "new",
            # the base is local: never ask a registry for it. The build's RUN steps reach
            # Debian's mirror through the host's network, as debootstrap does.
            "--extra-build-cli-args=--pull=never --network=host"]
    progress(f"building the execution environment {tag} on {base_tag} (a few minutes; log: "
             f"{BUILD_LOG.relative_to(ROOT)})")
    started = time.monotonic()
    with BUILD_LOG.open("w") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=podman_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            log.write(line)
            tail = (tail + [line.rstrip()])[-20:]
            if STEP.match(line):
                progress(f"ee {int(time.monotonic() - started)}s: {line.strip()[:110]}")
        proc.wait()
    if proc.returncode != 0:
        raise PmopsError(f"ansible-builder build failed (exit {proc.returncode}); the end of "
                         f"{BUILD_LOG.relative_to(ROOT)}:\n  " + "\n  ".join(tail))
    check = podman("run", "--rm", "--network=none", tag, "sh", "-c", SELF_TEST, check=False)
    if check.returncode != 0:
        raise PmopsError(f"the execution environment {tag} was built but lacks what it must hold:\n  "
                         + (check.stdout + check.stderr).decode(errors="replace").strip().replace("\n", "\n  "))
    progress(f"execution environment {tag} built in {int(time.monotonic() - started)} s")


def ensure(rebuild: bool = False) -> tuple[str, bool]:
    """The execution environment of the current definition: (its tag, whether it was built now)."""
    base_tag, _ = lab_image.ensure_image()
    tag = image_tag(base_tag)
    built = False
    if rebuild or not lab_image.image_exists(tag):
        build_wheelhouse()
        build(tag, base_tag)
        built = True
    podman("tag", tag, f"{IMAGE_REPO}:latest")
    return tag, built
