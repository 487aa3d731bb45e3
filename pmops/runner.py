"""The module that runs Ansible: the inventory resolved once, its hosts, playbook runs through
ansible-runner's Python API with a progress line, and the task results the pmops_audit
callback records (host, task, tags, status, diff).

Layer: engine. Every command that runs a playbook or needs an inventory's hosts comes here
(`pmops audit`, `comply`, `plan`, `apply`, and deploy, rollback, patch, backup and restore
through change.run_recorded()); nothing else in pmops calls ansible-runner or
ansible-inventory. It knows nothing of the controls: a command hands the events to
pmops.controls.

An inventory is resolved once (resolve_inventory): the name the operator gave, for messages
and the run log, and its absolute path, for Ansible; its hosts are asked of ansible-inventory
once per limit. The progress line (plays, tasks, hosts done, changed, failures so far,
elapsed time) is drawn on stderr only when it is a terminal, so CI logs and timers stay quiet.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pmops import PmopsError
from pmops.paths import ANSIBLE_CFG, ROOT


class Progress:
    """Counts ansible-runner's events and redraws one line; silent when not on a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.started = time.monotonic()
        self.play = ""
        self.plays = self.tasks = 0
        self.results = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0}
        self.failed_hosts: set[str] = set()
        self.extra = None  # a callable whose text ends the line (comply: testinfra's progress)
        self._drawn = 0.0

    def event(self, data: dict) -> bool:
        kind = data.get("event", "")
        info = data.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self.plays += 1
            self.play = str(info.get("play", ""))
        elif kind == "playbook_on_task_start":
            self.tasks += 1
        elif kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"):
            if kind == "runner_on_ok":
                self.results["changed" if (info.get("res") or {}).get("changed") else "ok"] += 1
            elif kind == "runner_on_failed" and not info.get("ignore_errors"):
                self.results["failed"] += 1
                self.failed_hosts.add(str(info.get("host")))
            elif kind == "runner_on_unreachable":
                self.results["unreachable"] += 1
                self.failed_hosts.add(str(info.get("host")))
            elif kind == "runner_on_skipped":
                self.results["skipped"] += 1
        self.draw(final=kind == "playbook_on_stats")
        return True  # ansible-runner keeps the event

    def elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60}m{seconds % 60:02d}s"

    def line(self) -> str:
        r = self.results
        return (f"{self.label}: play {self.plays} ({self.play[:40]}), task {self.tasks}, results ok {r['ok']} "
                f"changed {r['changed']} failed {r['failed']} unreachable {r['unreachable']}"
                f"{' on ' + ','.join(sorted(self.failed_hosts)) if self.failed_hosts else ''}, "
                f"{self.elapsed()}" + (f"; {self.extra()}" if self.extra else ""))

    def draw(self, final: bool = False) -> None:
        self.show(self.line, final)

    def show(self, text, final: bool = False) -> None:
        """Redraw the line with text() (at most five times a second, always when final)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self._drawn < 0.2:
            return
        self._drawn = now
        width = shutil.get_terminal_size((120, 20)).columns - 1
        self.stream.write("\r\033[K" + text()[:width] + ("\n" if final else ""))
        self.stream.flush()


@dataclass(frozen=True)
class Inventory:
    """An inventory resolved once: the name the operator gave (shown in messages and recorded in
    the run log) and its absolute path (what Ansible, ansible-inventory and testinfra are given)."""

    shown: str
    path: str
    _hosts: dict = field(default_factory=dict, compare=False, repr=False)

    def hosts(self, limit: str | None = None) -> list[str]:
        """The inventory's hosts within limit, [] when ansible-inventory cannot say; asked once per limit."""
        if limit not in self._hosts:
            self._hosts[limit] = _list_hosts(self.path, limit)
        return list(self._hosts[limit])


def resolve_inventory(inventory: str | Inventory) -> Inventory:
    """The inventory the operator named, from the working directory; an Inventory passes through."""
    if isinstance(inventory, Inventory):
        return inventory
    if not Path(inventory).exists():
        raise PmopsError(f"inventory {inventory} does not exist")
    return Inventory(inventory, str(Path(inventory).resolve()))


def _list_hosts(inventory: str, limit: str | None) -> list[str]:
    argv = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", inventory, "--list"]
    if limit:
        argv += ["--limit", limit]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return []
    data = json.loads(proc.stdout)
    return sorted(data.get("_meta", {}).get("hostvars", {}) or _group_hosts(data, "pmops"))


def _group_hosts(data: dict, group: str) -> set[str]:
    hosts = set(data.get(group, {}).get("hosts", []))
    for child in data.get(group, {}).get("children", []):
        hosts |= _group_hosts(data, child)
    return hosts


def read_events(path: Path) -> list[dict]:
    """The task results the pmops_audit callback wrote, one JSON line each."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class Result:
    rc: int
    status: str
    events: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    seconds: float = 0.0
    log: str = ""


def run_playbook(playbook: str, inventory: str | Inventory, *, check: bool, label: str, limit: str | None = None,
                 tags: list[str] | None = None, extravars: dict | None = None, verbose: bool = False,
                 log_path: Path | None = None, progress: Progress | None = None, redact=None) -> Result:
    """Run a playbook of this project; returns the recorded task results and Ansible's output.
    redact (text -> text) cleans the output before it is kept in log_path (a secret shown once)."""
    inv = resolve_inventory(inventory)
    import ansible_runner  # imported late: it is slow to import and only some commands need it

    private = Path(tempfile.mkdtemp(prefix="pmops-run-"))
    events_path = private / "events.jsonl"
    env = {
        "PMOPS_AUDIT_EVENTS": str(events_path),
        "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer,pmops_audit",
        "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
        "ANSIBLE_NOCOLOR": "1",
    }
    # ansible-playbook from this interpreter's virtualenv, whether or not it is activated
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    cmdline = "--check --diff" if check else "--diff"
    progress = progress or Progress(label)
    started = time.monotonic()
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private), project_dir=str(ROOT), playbook=str(ROOT / playbook),
            inventory=inv.path, cmdline=cmdline, limit=limit, tags=",".join(tags) if tags else None,
            extravars=extravars or None, envvars=env, event_handler=progress.event, quiet=not verbose,
            suppress_env_files=True, settings={"suppress_ansible_output": not verbose})
        log = runner.stdout.read() if runner.stdout else ""
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(redact(log) if redact else log)
        return Result(rc=runner.rc, status=runner.status, events=read_events(events_path), stats=runner.stats or {},
                      seconds=round(time.monotonic() - started, 1), log=log)
    finally:
        shutil.rmtree(private, ignore_errors=True)
