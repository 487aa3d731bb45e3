"""Drill phases, so that drills touching different hosts run side by side (`make lab-drills`).

- fleet: the compliance drills, alone and first, on the lab exactly as converge and testinfra
  left it. A run that counts every control on every host is the one place where another
  drill's leftover would turn into a false failure.
- lanes: two lanes side by side (pytest-xdist, `--dist loadgroup`), each a set of hosts no
  drill of the other lane touches, changes, stops or loads:
  web-01 (a malware test file, the firewall's refusal and a restart, the host stopped for its
  alerts, the audit, the plans, which also plan app-02: the one host no lane's drill touches,
  and a person's second factor and its canary) and db-01, backup-01, app-01, monitor-01
  (backups and restores, a person's access, sshd lockouts, the portal stopped and a backup
  made stale for their alerts). The lanes take about as long as each other: move a drill file
  between them (and its HOST) when `--durations` says one lane waits for the other.
- last: the application drills, alone: their load goes through web-01, both app hosts and
  db-01, and the patch drill upgrades every host.

A plain `pytest tests/drills` runs the phases one after another, in this order; within a
phase, the files run in DRILLS's order, and within a file, the file's order is kept. A new
drill file must be given a phase here. A drill whose effect reaches past its lane's hosts
moves to another phase with `@pytest.mark.phase("last")`, and `at="first"` or `at="last"`
puts it before or after that phase's files (else it runs with its own file): stopping
backup-01 makes every backup client's check-mode run (the audit drills on web-01) fail to read
its repository, so that drill runs at the end of the last phase; the alert drills of a clean
lab run at the start of the fleet phase, before its compliance drills break and heal hosts,
and stopping Alertmanager, among them, makes it forget the alerts that hold others back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PHASES = ("fleet", "lanes", "last")
# In the order they run within their phase and lane. web-01's lane: the malware drill's page
# comes first, because a restarted or stopped host's other alerts are held back for 3 minutes
# after its last failed scrape (HostRecentlyDown); the restart and the stop follow one another,
# so that their 3 minutes pass while the audit, the plans and the second factor run.
DRILLS = {
    "test_comply.py": ("fleet", None),
    "test_malware.py": ("lanes", "web-01"),
    "test_firewall_drills.py": ("lanes", "web-01"),
    "test_alerts_web.py": ("lanes", "web-01"),
    "test_audit_only.py": ("lanes", "web-01"),
    "test_plan.py": ("lanes", "web-01"),
    "test_two_factor.py": ("lanes", "web-01"),
    "test_access_drills.py": ("lanes", "db-01+backup-01+app-01+monitor-01"),
    "test_alerts.py": ("lanes", "db-01+backup-01+app-01+monitor-01"),
    "test_awx_ready.py": ("lanes", "db-01+backup-01+app-01+monitor-01"),
    "test_backup.py": ("lanes", "db-01+backup-01+app-01+monitor-01"),
    "test_ssh_lockout.py": ("lanes", "db-01+backup-01+app-01+monitor-01"),
    "test_alerts_slo.py": ("last", None),
    "test_app_tier.py": ("last", None),
}
ORDER = list(DRILLS)
# Where a drill moved to another phase runs in it (`phase(name, at=...)`): None, with its file.
AT = ("first", None, "last")


def pytest_configure(config):
    for phase in PHASES:
        config.addinivalue_line("markers", f"{phase}: drill phase {phase} (tests/drills/conftest.py)")
    config.addinivalue_line("markers", "phase(name, at=None): run this drill in another phase than its file's, "
                            "at its start or end ('first', 'last') or with its own file (None)")


def phase_of(item) -> tuple[str, str | None]:
    """The drill's phase and lane: its file's, or the phase its `phase` mark names (no lane)."""
    phase, lane = DRILLS[Path(item.fspath).name]
    moved = item.get_closest_marker("phase")
    if moved:
        if moved.args[0] not in PHASES:
            raise pytest.UsageError(f"{item.nodeid}: phase {moved.args[0]!r} is not one of {', '.join(PHASES)}")
        if moved.kwargs.get("at") not in AT:
            raise pytest.UsageError(f"{item.nodeid}: at={moved.kwargs['at']!r} is not 'first', 'last' or None")
        return moved.args[0], None
    return phase, lane


def run_order(item) -> tuple[int, int, int]:
    """Phase, then the place a moved drill asked for in it, then its file's place in DRILLS."""
    moved = item.get_closest_marker("phase")
    return (PHASES.index(phase_of(item)[0]), AT.index(moved.kwargs.get("at") if moved else None),
            ORDER.index(Path(item.fspath).name))


# First: pytest-xdist reads the xdist_group marks in its own hook of the same name (on each
# worker), so they must be on the items before it runs.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    unknown = sorted({Path(item.fspath).name for item in items} - set(DRILLS))
    if unknown:
        raise pytest.UsageError(f"drill files with no phase in tests/drills/conftest.py: {', '.join(unknown)}")
    for item in items:
        phase, lane = phase_of(item)
        item.add_marker(getattr(pytest.mark, phase))
        if lane:
            item.add_marker(pytest.mark.xdist_group(name=lane))
    items.sort(key=run_order)
