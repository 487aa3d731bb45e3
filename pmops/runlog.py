"""The run log: one JSON line per change pmops makes (apply, deploy, rollback, patch, backup,
restore), appended and never rewritten.

Each record names the command, who ran it, when, from which git commit, on which inventory, limit and
tags, what changed on each host and how it ended. Each record also carries the sha256 of
the line before it, so removing or editing a record breaks the chain and `pmops history
--verify` says where. (On a control node the role also makes the file append-only for the
kernel, chattr +a, where the file system allows it.)

Layer: library (the file format; the commands in pmops.change write and read it).
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from pmops import PmopsError

GENESIS = "0" * 64
# One chain for every command. The file keeps the name it had when applies were all it held:
# control nodes make it append-only (chattr +a) under that name.
RELATIVE_PATH = Path("runlog") / "apply.jsonl"


def path(state_dir: Path) -> Path:
    return state_dir / RELATIVE_PATH


def who() -> str:
    """The person behind the run: the sudo caller if any, else the login, plus CI's user."""
    person = os.environ.get("SUDO_USER") or getpass.getuser()
    ci_user = os.environ.get("GITLAB_USER_LOGIN") or os.environ.get("GITHUB_ACTOR")
    return f"{person} (CI: {ci_user})" if ci_user else person


def git_state(root: Path) -> tuple[str | None, bool]:
    """(commit, dirty) of the working tree, or (None, False) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip() != ""
    except (OSError, subprocess.CalledProcessError):
        return None, False
    return commit, dirty


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(line: str) -> str:
    return hashlib.sha256(line.rstrip("\n").encode()).hexdigest()


def append(path: Path, record: dict) -> dict:
    """Append a record, chained to the last line; a lock keeps two applies from interleaving."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        lines = [line for line in fh.read().splitlines() if line.strip()]
        record = dict(record, seq=len(lines) + 1, prev=_digest(lines[-1]) if lines else GENESIS)
        fh.seek(0, os.SEEK_END)
        fh.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return record


def read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            raise PmopsError(f"{path}: line {number} is not a record ({exc})") from exc
    return records


def verify(path: Path) -> list[str]:
    """What breaks the chain: edited, removed or reordered records."""
    problems = []
    previous = GENESIS
    if not path.exists():
        return problems
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"line {number}: not a record")
            previous = _digest(line)
            continue
        if record.get("prev") != previous:
            problems.append(f"line {number} (seq {record.get('seq')}): the line before it was edited or removed")
        if record.get("seq") != number:
            problems.append(f"line {number}: seq {record.get('seq')}, expected {number} (a record was removed)")
        previous = _digest(line)
    return problems


def history_lines(records: list[dict], last: int | None = None, verbose: bool = False) -> list[str]:
    """A table of the runs, newest last; with verbose, the request, each host's changed tasks
    and what the command itself reported (a stopped deploy's host and check)."""
    shown = records[-last:] if last else records
    lines = [f"{'seq':>4}  {'when (UTC)':<20}  {'who':<16}  {'command':<13}  {'commit':<9}  {'result':<20}  "
             f"{'changed':>7}  inventory / limit / tags"]
    for r in shown:
        changed = sum(len(tasks) for tasks in (r.get("changed") or {}).values())
        where = " / ".join(str(x) for x in (r.get("inventory"), r.get("limit") or "all",
                                              ",".join(r.get("tags") or []) or "all tags"))
        commit = (r.get("git_commit") or "-")[:8] + ("+" if r.get("git_dirty") else "")
        command = r.get("command") or "apply"  # records written before other commands were recorded
        request = " ".join(f"{k}={v}" for k, v in sorted((r.get("request") or {}).items()))
        lines.append(f"{r.get('seq', 0):>4}  {str(r.get('finished') or r.get('started'))[:20]:<20}  "
                     f"{str(r.get('who'))[:16]:<16}  {command:<13}  {commit:<9}  {str(r.get('result')):<20}  "
                     f"{changed:>7}  {where}" + (f"  ({request})" if request else ""))
        if verbose:
            for key in ("failed_host", "failed_check", "rolled_back_to", "reports"):
                if r.get(key):
                    lines.append(f"{'':>6}{key.replace('_', ' ')}: {r[key]}")
            for host, tasks in sorted((r.get("changed") or {}).items()):
                for task in tasks:
                    lines.append(f"{'':>6}{host}: {task}")
            for host, controls in sorted((r.get("unhealed") or {}).items()):
                for cid in sorted(controls):
                    lines.append(f"{'':>6}{host}: NOT PUT RIGHT {cid}: {'; '.join(controls[cid])[:200]}")
    return lines
