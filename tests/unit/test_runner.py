"""pmops.runner without Ansible: an inventory resolved once, its hosts asked once per limit,
the callback's events read back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pmops import PmopsError, runner


def test_an_inventory_is_resolved_once_and_passes_through(tmp_path, monkeypatch):
    (tmp_path / "inv").mkdir()
    monkeypatch.chdir(tmp_path)
    inv = runner.resolve_inventory("inv")
    assert (inv.shown, inv.path) == ("inv", str(tmp_path / "inv"))
    assert runner.resolve_inventory(inv) is inv
    with pytest.raises(PmopsError, match="inventory nowhere does not exist"):
        runner.resolve_inventory("nowhere")


def test_hosts_are_asked_of_ansible_inventory_once_per_limit(monkeypatch):
    calls = []
    listing = {"_meta": {"hostvars": {"web-01": {}, "db-01": {}}}}

    def run(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, json.dumps(listing), "")

    monkeypatch.setattr(runner.subprocess, "run", run)
    inv = runner.Inventory("inventory/lab", "/abs/inventory/lab")
    assert inv.hosts() == ["db-01", "web-01"] and inv.hosts() == ["db-01", "web-01"]
    inv.hosts("web").append("not kept")
    assert inv.hosts("web") == ["db-01", "web-01"]
    assert [argv[1:] for argv in calls] == [["-i", "/abs/inventory/lab", "--list"],
                                            ["-i", "/abs/inventory/lab", "--list", "--limit", "web"]]


def test_hosts_without_hostvars_come_from_the_pmops_group_and_a_failure_is_no_hosts(monkeypatch):
    listing = {"pmops": {"children": ["web"], "hosts": ["mon-01"]}, "web": {"hosts": ["web-01"]}}
    monkeypatch.setattr(runner.subprocess, "run",
                        lambda argv, **kw: subprocess.CompletedProcess(argv, 0, json.dumps(listing), ""))
    assert runner.Inventory("i", "/i").hosts() == ["mon-01", "web-01"]
    monkeypatch.setattr(runner.subprocess, "run", lambda argv, **kw: subprocess.CompletedProcess(argv, 1, "", "bad"))
    assert runner.Inventory("i", "/i").hosts() == []


def test_events_are_read_back_line_by_line(tmp_path):
    path = tmp_path / "events.jsonl"
    assert runner.read_events(path) == []
    path.write_text('{"host": "h1", "status": "ok"}\n\n{"host": "h2", "status": "changed"}\n')
    assert runner.read_events(Path(path)) == [{"host": "h1", "status": "ok"}, {"host": "h2", "status": "changed"}]
