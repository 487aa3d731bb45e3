"""A pytest plugin for `pmops comply`: one JSON line per testinfra test and host.

Loaded with `-p pmops.pytest_results`; runs only the parametrisations named in
$PMOPS_TESTINFRA_WANT (JSON [[file::function, param], ...]) when set, and writes to the file
named by $PMOPS_TESTINFRA_RESULTS:
{"host", "test" (file::function), "param" (the parametrisation without the host), "outcome"
(passed, failed, skipped), "detail" (the failing assertion's E lines, or the skip reason)}.

When $PMOPS_TESTINFRA_INVENTORY is set (JSON {"source", "listing"}), testinfra's Ansible backend
reads the inventory `source` from the file `listing` (what `ansible-inventory --list` printed
for pmops) instead of running ansible-inventory again: 0.35 CPU-s saved in every process, one
per host. Any other inventory is still asked of ansible-inventory.

Layer: library (runs inside the testinfra processes comply starts; imports nothing of pmops).
"""

from __future__ import annotations

import json
import os

import pytest

_PATH = os.environ.get("PMOPS_TESTINFRA_RESULTS")
# [[file::function, param], ...]: only these run (a control names one parametrisation of a test)
_WANT = {tuple(pair) for pair in json.loads(os.environ.get("PMOPS_TESTINFRA_WANT") or "[]")}
_INVENTORY = json.loads(os.environ.get("PMOPS_TESTINFRA_INVENTORY") or "{}")


def _serve_listing() -> None:
    """testinfra's get_ansible_inventory answers pmops's listing for the inventory pmops read."""
    from testinfra.utils import ansible_runner

    asked = ansible_runner.get_ansible_inventory

    def get_ansible_inventory(config, inventory_file):
        if inventory_file == _INVENTORY["source"]:
            with open(_INVENTORY["listing"], encoding="utf-8") as fh:
                return json.load(fh)
        return asked(config, inventory_file)

    ansible_runner.get_ansible_inventory = get_ansible_inventory


if _INVENTORY:
    _serve_listing()


def _host(item) -> tuple[str | None, str | None]:
    callspec = getattr(item, "callspec", None)
    if callspec is None or "_testinfra_host" not in callspec.params:
        return None, None
    backend = callspec.params["_testinfra_host"].backend
    return backend.hostname, backend.get_pytest_id()


def _param(item, host_id: str | None) -> str:
    full = item.callspec.id if hasattr(item, "callspec") else ""
    if host_id and full.startswith(host_id):
        full = full[len(host_id):].lstrip("-")
    elif host_id and full.endswith(host_id):
        full = full[: -len(host_id)].rstrip("-")
    return full


def _detail(report) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    text = getattr(report, "longreprtext", "") or ""
    errors = [line[2:].strip() for line in text.splitlines() if line.startswith("E ")]
    if errors:
        return "\n".join(errors[:12])
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def pytest_collection_modifyitems(config, items):
    if not _WANT:
        return
    keep, drop = [], []
    for item in items:
        _, host_id = _host(item)
        node = item.nodeid.split("[", 1)[0]
        wanted = (node, _param(item, host_id)) in _WANT or (node, "") in _WANT
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not _PATH:
        return
    # the call's result, or setup's when setup skipped or failed (a skip in the test body is a call)
    if not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    host, host_id = _host(item)
    if host is None:
        return
    record = {"host": host, "test": item.nodeid.split("[", 1)[0], "param": _param(item, host_id),
              "outcome": "failed" if report.failed else ("skipped" if report.skipped else "passed")}
    if not report.passed:
        record["detail"] = _detail(report)[:2000]
    with open(_PATH, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
