"""What the lab's own tests share: the project's paths, and pmops and podman run the way the
Makefile runs them (the lab's containers.conf)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PMOPS = str(Path(sys.executable).parent / "pmops")
ENV = dict(os.environ, CONTAINERS_CONF=str(ROOT / "lab" / "containers.conf"))


def pmops(*args, timeout=600, env=None):
    return subprocess.run([PMOPS, *args], cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=timeout)


def podman(*args):
    return subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True)
