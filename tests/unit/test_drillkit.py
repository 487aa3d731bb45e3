"""The drills' shared helpers (tests/drills/drillkit.py) that need no lab."""

from __future__ import annotations

import importlib.util
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("drillkit", ROOT / "tests" / "drills" / "drillkit.py")
drillkit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(drillkit)


def test_as_root_each_runs_hosts_side_by_side_and_each_hosts_commands_in_order(monkeypatch):
    seen: dict[str, list[str]] = {}
    running, most = set(), [0]
    lock = threading.Lock()

    def as_root(host, command, timeout=120):
        with lock:
            running.add(host)
            most[0] = max(most[0], len(running))
        time.sleep(0.05)
        with lock:
            running.discard(host)
            seen.setdefault(host, []).append(command)
        return subprocess.CompletedProcess([host, command], 0, stdout=f"{host}:{command}", stderr="")

    monkeypatch.setattr(drillkit, "as_root", as_root)
    commands = [("web-01", "a"), ("db-01", "b"), ("web-01", "c"), ("db-01", "d"), ("app-01", "e")]
    results = drillkit.as_root_each(commands)
    assert [r.stdout for r in results] == [f"{h}:{c}" for h, c in commands]
    assert seen == {"web-01": ["a", "c"], "db-01": ["b", "d"], "app-01": ["e"]}
    assert most[0] > 1
