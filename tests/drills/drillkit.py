"""What every drill needs, once: lab addresses from the lab's topology (inventory/lab), fresh
SSH logins as the automation account or a person, root commands, and runs of pmops and
ansible-playbook with their combined output. Drills import it as `drillkit` (pytest puts
this directory on sys.path, as it does for any test directory without __init__.py).
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from pmops import lab, runlog
from pmops.paths import state_dir

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PEOPLE = ROOT / ".lab" / "people"
CA = str(ROOT / ".lab" / "pki" / "ca.crt")
ENV = dict(os.environ, CONTAINERS_CONF=str(lab.CONTAINERS_CONF), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")


@functools.cache
def topology() -> lab.Topology:
    return lab.load_topology()


def address(host: str) -> str:
    """A lab host's address, as inventory/lab writes it."""
    return topology().host(host).ip


def web_url(host: str = "web-01") -> str:
    return f"https://{address(host)}"


def ssh(host: str, *command: str, user: str | None = None, key: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """A fresh login (host key checking on, no reused connection) running command as given:
    one string is run by the remote shell, several words are quoted for it. As the automation
    account unless user (and key, a file under .lab/people) say otherwise."""
    identity = ["-i", str(PEOPLE / key), "-o", "IdentitiesOnly=yes"] if key else []
    remote = command[0] if len(command) == 1 else shlex.join(command)
    argv = lab.ssh_base() + identity + [f"{user or topology().user}@{address(host)}"] + ([remote] if command else [])
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def sudo(host: str, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """argv as root through the automation account's sudo."""
    return ssh(host, "sudo -n " + shlex.join(argv), timeout=timeout)


def as_root(host: str, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A shell command line as root."""
    return lab.as_root(host, command, timeout=timeout, topo=topology())


def _run(argv: list[str], timeout: float, env: dict | None) -> tuple[subprocess.CompletedProcess, float, str]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started, " ".join((proc.stdout + proc.stderr).split())


def playbook(*args: str, inventory: str = "inventory/lab", timeout: float = 900,
             env: dict | None = None) -> tuple[subprocess.CompletedProcess, float, str]:
    """ansible-playbook on the lab: (process, seconds, output on one line)."""
    return _run([str(BIN / "ansible-playbook"), "-i", inventory, *args], timeout, env)


def pmops(*args: str, timeout: float = 1200, state: Path | None = None) -> tuple[subprocess.CompletedProcess, float, str]:
    """The pmops command: (process, seconds, output on one line); state: its PMOPS_STATE_DIR."""
    env = dict(ENV, PMOPS_STATE_DIR=str(state)) if state is not None else None
    return _run([str(BIN / "pmops"), *args], timeout, env)


def converge(*args: str, limit: str | None = None, tags: str | None = None, extra: dict | None = None,
             inventory: str = "inventory/lab", timeout: float = 900) -> tuple[subprocess.CompletedProcess, float, str]:
    """site.yml with ansible-playbook (what an operator who prefers it runs)."""
    more = (["--limit", limit] if limit else []) + (["--tags", tags] if tags else []) + \
        (["-e", json.dumps(extra)] if extra else [])
    return playbook("playbooks/site.yml", *more, *args, inventory=inventory, timeout=timeout)


def run_log(state: Path | None = None) -> list[dict]:
    """The records of the run log pmops writes (`pmops history --json`)."""
    return runlog.read(runlog.path(state or state_dir()))
