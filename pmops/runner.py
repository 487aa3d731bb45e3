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

import io
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
from pmops.paths import ANSIBLE_CFG, CACHE, CONTAINERS_CONF, ROOT


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
    _listings: dict = field(default_factory=dict, compare=False, repr=False)

    def hosts(self, limit: str | None = None) -> list[str]:
        """The inventory's hosts within limit, [] when ansible-inventory cannot say; asked once per limit."""
        listing = self.listing(limit)
        return sorted(listing.get("_meta", {}).get("hostvars", {}) or _group_hosts(listing, "pmops"))

    def listing(self, limit: str | None = None) -> dict:
        """`ansible-inventory --list` within limit ({} when it cannot say); asked once per limit.
        comply hands it to testinfra, whose every process would otherwise ask again (0.35 CPU-s)."""
        if limit not in self._listings:
            try:
                self._listings[limit] = inventory_listing(self, *(["--limit", limit] if limit else []))
            except PmopsError:
                self._listings[limit] = {}
        return self._listings[limit]


def resolve_inventory(inventory: str | Inventory) -> Inventory:
    """The inventory the operator named, from the working directory; an Inventory passes through."""
    if isinstance(inventory, Inventory):
        return inventory
    if not Path(inventory).exists():
        raise PmopsError(f"inventory {inventory} does not exist")
    return Inventory(inventory, str(Path(inventory).resolve()))


def _ansible_inventory(inventory: str, *args: str) -> subprocess.CompletedProcess:
    argv = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", inventory, "--list", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_CFG)))


def inventory_listing(inventory: str | Inventory, *args: str) -> dict:
    """ansible-inventory --list of an inventory (extra arguments such as --export passed on)."""
    inv = resolve_inventory(inventory)
    proc = _ansible_inventory(inv.path, *args)
    if proc.returncode != 0:
        raise PmopsError(f"ansible-inventory cannot read {inv.shown}: " + (proc.stderr.strip().splitlines() or ["?"])[-1])
    return json.loads(proc.stdout)


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


def execution_environment() -> str | None:
    """The container image Ansible runs in (`pmops --ee IMAGE`, $PMOPS_EE); None: this virtualenv."""
    return os.environ.get("PMOPS_EE") or None


def use_podman_settings() -> None:
    """podman, run by this process or by ansible-runner (which passes this process's environment
    on), reads this machine's settings (runc, ulimits) unless told otherwise."""
    os.environ.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))


# How a container of the execution environment sees the project: at its own path, so ansible.cfg,
# the inventories, the playbooks and their relative paths (keys, .cache) mean the same inside;
# on the host's network, as the controller (the lab admits SSH from the host's address only);
# as root, who owns ansible-runner's private directory and the control node's keys.
CONTAINER_OPTIONS = ["--network=host", "--user=0"]


def _podman_run() -> list[str]:
    """podman run of a throw-away container of the execution environment (stdin open, no terminal)."""
    use_podman_settings()
    return ["podman", "run", "--rm", "--interactive", *CONTAINER_OPTIONS]


def in_container(image: str, argv: list[str], env: dict[str, str], mounts: tuple[Path, ...] = ()) -> list[str]:
    """argv run in the execution environment the way ansible-runner runs playbooks there
    (testinfra's processes of `pmops comply --ee`)."""
    cmd = [*_podman_run(), f"--volume={ROOT}:{ROOT}", f"--workdir={ROOT}"]
    cmd += [f"--volume={path}:{path}" for path in mounts]
    cmd += [f"--env={key}={value}" for key, value in sorted(env.items())]
    return cmd + [image, *argv]


def execution_node() -> str | None:
    """Where ansible-runner's worker runs the job (`pmops --worker NODE`, $PMOPS_WORKER): None,
    here; `podman:IMAGE`, an execution environment container; `ssh:[USER@]HOST`, a host with
    ansible-runner installed (from the wheelhouse), reached with ssh's own configuration or the
    ssh_config file $PMOPS_WORKER_SSH_CONFIG names."""
    return os.environ.get("PMOPS_WORKER") or None


# Where a worker unpacks the job it is sent (its private data directory), on the execution node;
# one per job (the private directory's name), so that jobs on one node never share it.
WORKER_DIR = "/var/tmp/pmops-job"
# What a job sends to an execution node of the project: what Ansible reads, not the tests, the
# documentation or what runs leave behind (the lab's keys and secrets do go: AWX would send
# them as credentials).
JOB_SKIPS = (".git", ".venv", ".cache", ".pytest_cache", ".benchmarks", "reports", "runlog", "tests", "bench", "docs",
             "molecule", "__pycache__", "*.pyc", "node_modules")


def worker_command(node: str, directory: str = WORKER_DIR) -> list[str]:
    """The command that runs ansible-runner's worker on an execution node: the job on its
    standard input, the events and artifacts on its standard output (no terminal: it would
    corrupt the stream)."""
    kind, _, where = node.partition(":")
    worker = ["ansible-runner", "worker", "--private-data-dir", directory, "--delete"]
    if kind == "podman" and where:
        return [*_podman_run(), where, *worker]
    if kind == "ssh" and where:
        config = os.environ.get("PMOPS_WORKER_SSH_CONFIG")
        return ["ssh", *(["-F", config] if config else []), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-T", where, *worker]
    raise PmopsError(f"--worker {node!r}: give podman:IMAGE (an execution environment) or ssh:[USER@]HOST")


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
    image = execution_environment()
    env = {
        "PMOPS_AUDIT_EVENTS": "/runner/events.jsonl" if image else str(events_path),
        "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer,pmops_audit",
        "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
        "ANSIBLE_NOCOLOR": "1",
        # ansible-runner turns host key checking off unless told (its AWX heritage), and that
        # overrides ansible.cfg: a run through it would trust any host key.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
    }
    isolation: dict = {}
    if image:
        # ansible-runner mounts only its private directory (as /runner) and always gives
        # Ansible /runner/inventory: the project is mounted at its own path, the inventory linked.
        (private / "inventory").symlink_to(inv.path)
        env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(CACHE / "facts")  # runner would keep facts per run
        isolation = dict(process_isolation=True, process_isolation_executable="podman", container_image=image,
                         container_volume_mounts=[f"{ROOT}:{ROOT}"], container_workdir=str(ROOT),
                         container_options=list(CONTAINER_OPTIONS))
        use_podman_settings()
    # ansible-playbook from this interpreter's virtualenv, whether or not it is activated
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    cmdline = "--check --diff" if check else "--diff"
    progress = progress or Progress(label)
    started = time.monotonic()
    node = execution_node()
    try:
        if node:
            runner = _through_worker(node, private, playbook, inv, env, dict(
                cmdline=cmdline, limit=limit, tags=",".join(tags) if tags else None, extravars=extravars or None,
                quiet=not verbose, suppress_env_files=True, settings={"suppress_ansible_output": not verbose}),
                progress)
            events_path = private / "artifacts" / JOB_IDENT / "pmops_events.jsonl"
        else:
            runner = ansible_runner.run(
                private_data_dir=str(private), project_dir=str(ROOT), playbook=str(ROOT / playbook),
                inventory=inv.path, cmdline=cmdline, limit=limit, tags=",".join(tags) if tags else None,
                extravars=extravars or None, envvars=env, event_handler=progress.event, quiet=not verbose,
                suppress_env_files=True, settings={"suppress_ansible_output": not verbose}, **isolation)
        log = runner.stdout.read() if runner.stdout else ""
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(redact(log) if redact else log)
        return Result(rc=runner.rc, status=runner.status, events=read_events(events_path), stats=runner.stats or {},
                      seconds=round(time.monotonic() - started, 1), log=log)
    finally:
        shutil.rmtree(private, ignore_errors=True)


JOB_IDENT = "pmops"


def _through_worker(node: str, private: Path, playbook: str, inv: Inventory, env: dict, options: dict,
                    progress: Progress):
    """The job as AWX runs it on an execution node: ansible-runner's transmit here (the project and
    the inventory zipped into the job stream), its worker on the node, its process here (the
    events replayed through the progress line, the artifacts unpacked into the private directory).
    Paths in the job are the node's: the project under WORKER_DIR/project."""
    import ansible_runner

    project = private / "project"
    shutil.copytree(ROOT, project, symlinks=True, ignore=shutil.ignore_patterns(*JOB_SKIPS))
    inventory = Path(inv.path)
    try:
        sent_inventory = project / inventory.relative_to(ROOT)
    except ValueError:  # an inventory outside the project travels beside it
        sent_inventory = private / "inventory" / inventory.name
        (shutil.copytree if inventory.is_dir() else shutil.copy)(inventory, sent_inventory)
    there = Path(f"{WORKER_DIR}-{private.name}")
    node_env = dict(env, ANSIBLE_CONFIG=str(there / "project" / "ansible.cfg"),
                    ANSIBLE_CALLBACK_PLUGINS=str(there / "project" / "callback_plugins"),
                    PMOPS_AUDIT_EVENTS=str(there / "artifacts" / JOB_IDENT / "pmops_events.jsonl"))
    job, results = private / "job.stream", private / "results.stream"
    with job.open("wb") as out:
        ansible_runner.run(streamer="transmit", _output=out, private_data_dir=str(private), ident=JOB_IDENT,
                           playbook=str(project / playbook), inventory=str(sent_inventory), envvars=node_env,
                           **options)
    with job.open("rb") as stdin, results.open("wb") as stdout:
        worker = subprocess.run(worker_command(node, str(there)), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    if results.stat().st_size == 0:
        raise PmopsError(f"the worker on {node} sent nothing back (exit {worker.returncode}): "
                         + worker.stderr.decode(errors="replace").strip()[-500:])
    shutil.rmtree(project, ignore_errors=True)
    stats: dict = {}

    def keep_stats(event: dict) -> bool:
        if event.get("event") == "playbook_on_stats":
            data = event.get("event_data") or {}
            stats.update({key: data.get(key, {}) for key in ("skipped", "ok", "dark", "failures", "ignored",
                                                              "rescued", "processed", "changed")})
        return progress.event(event)

    with results.open("rb") as stdin:
        processed = ansible_runner.run(streamer="process", _input=stdin, private_data_dir=str(private),
                                       ident=JOB_IDENT, event_handler=keep_stats, quiet=options["quiet"])
    artifacts = private / "artifacts" / JOB_IDENT
    rc = int((artifacts / "rc").read_text().strip()) if (artifacts / "rc").exists() else (processed.rc or 1)
    stdout = io.StringIO((artifacts / "stdout").read_text(errors="replace")) if (artifacts / "stdout").exists() else None
    return Worked(rc=rc, status=processed.status, stats=stats or None, stdout=stdout)


@dataclass
class Worked:
    """What a worker's job left, read like ansible-runner's Runner (rc, status, stats, stdout)."""
    rc: int
    status: str
    stats: dict | None
    stdout: TextIO | None
