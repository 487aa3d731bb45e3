"""The drill phases (tests/drills/conftest.py): every drill file has one, and make lab-drills
runs each phase, the lanes side by side with one lane per worker."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("drill_phases", ROOT / "tests" / "drills" / "conftest.py")
phases = importlib.util.module_from_spec(spec)
spec.loader.exec_module(phases)


def test_every_drill_file_has_a_phase():
    files = {p.name for p in (ROOT / "tests" / "drills").glob("test_*.py")}
    assert files == set(phases.DRILLS)
    assert {phase for phase, _ in phases.DRILLS.values()} == set(phases.PHASES)


def test_only_the_lanes_phase_has_lanes_and_it_has_two():
    lanes = {lane for phase, lane in phases.DRILLS.values() if phase == "lanes"}
    assert len(lanes) == 2 and None not in lanes
    assert all(lane is None for phase, lane in phases.DRILLS.values() if phase != "lanes")
    # no host is in both lanes
    a, b = (set(lane.split("+")) for lane in sorted(lanes))
    assert not a & b


def test_make_lab_drills_runs_every_phase_in_order_and_the_lanes_on_two_workers():
    recipe = re.search(r"^lab-drills:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    runs = [line.strip() for line in recipe.splitlines()]
    assert [re.search(r"-m (\w+)", r).group(1) for r in runs] == list(phases.PHASES)
    assert "-n 2 --dist loadgroup" in runs[1]


def test_the_lanes_are_marked_before_xdist_reads_them():
    """xdist reads xdist_group marks in its own collection hook; ours must run first, or each
    drill goes to any worker and the two halves of one lane run at once (CI saw the two audit
    drills on web-01 at the same time)."""
    assert phases.pytest_collection_modifyitems.pytest_impl.get("tryfirst") is True


class _Item:
    def __init__(self, name, mark=None):
        self.fspath, self.nodeid, self._mark = f"/x/tests/drills/{name}", name, mark

    def get_closest_marker(self, name):
        return self._mark if name == "phase" else None


def test_a_drill_can_leave_its_lane_for_another_phase():
    class Mark:
        args, kwargs = ("last",), {}
    assert phases.phase_of(_Item("test_backup.py")) == ("lanes", "db-01+backup-01+app-01+monitor-01")
    assert phases.phase_of(_Item("test_backup.py", Mark())) == ("last", None)
    Mark.args = ("nowhere",)
    try:
        phases.phase_of(_Item("test_backup.py", Mark()))
    except phases.pytest.UsageError as exc:
        assert "nowhere" in str(exc)
    else:
        raise AssertionError("an unknown phase was accepted")


def test_the_drill_that_stops_the_repository_host_runs_alone():
    text = (ROOT / "tests" / "drills" / "test_backup.py").read_text()
    at = text.index("def test_a_backup_with_the_repository_down")
    assert '@pytest.mark.phase("last", at="last")' in text[at - 300:at]


class _Mark:
    def __init__(self, phase, at=None):
        self.args, self.kwargs = (phase,), ({"at": at} if at else {})


def test_a_moved_drill_runs_where_it_asks_in_its_new_phase():
    fleet_first = _Item("test_alerts.py", _Mark("fleet", "first"))
    last_last = _Item("test_backup.py", _Mark("last", "last"))
    items = [last_last, _Item("test_app_tier.py"), _Item("test_comply.py"), _Item("test_malware.py"),
             fleet_first, _Item("test_alerts_slo.py"), _Item("test_firewall_drills.py")]
    items.sort(key=phases.run_order)
    assert [(i.nodeid, phases.phase_of(i)[0]) for i in items] == [
        ("test_alerts.py", "fleet"), ("test_comply.py", "fleet"),
        ("test_malware.py", "lanes"), ("test_firewall_drills.py", "lanes"),
        ("test_alerts_slo.py", "last"), ("test_app_tier.py", "last"), ("test_backup.py", "last")]
    # without `at`, a moved drill runs with its own file's place
    plain = _Item("test_backup.py", _Mark("last"))
    assert phases.run_order(plain) == (2, 1, phases.ORDER.index("test_backup.py"))


def test_an_unknown_place_in_a_phase_is_refused():
    try:
        phases.phase_of(_Item("test_backup.py", _Mark("last", "middle")))
    except phases.pytest.UsageError as exc:
        assert "middle" in str(exc)
    else:
        raise AssertionError("at='middle' was accepted")
