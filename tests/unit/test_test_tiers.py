"""make test's tier table: each tier's time against its budget, the total against 40 minutes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("test_tiers", Path(__file__).resolve().parents[2] / "scripts" / "test_tiers.py")
tiers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tiers)


def test_the_budgets_add_up_to_forty_minutes_and_name_every_tier_of_make_test():
    assert tiers.BUDGET == 40 * 60
    makefile = (Path(tiers.ROOT) / "Makefile").read_text()
    for name, _, _ in tiers.TIERS:
        assert f"\n{name}:" in makefile, name


def test_the_budgets_of_the_tiers_run_in_turn_leave_room_under_forty_minutes():
    in_turn = sum(budget for name, budget, _ in tiers.TIERS if name not in tiers.BESIDE)
    assert in_turn == tiers.BUDGET - tiers.ROOM and tiers.ROOM >= 60


def test_the_table_flags_a_tier_over_budget_and_a_failed_one():
    text = tiers.table([{"tier": "fast", "seconds": 100, "budget": 240, "covers": "lint", "rc": 0},
                        {"tier": "lab-drills", "seconds": 800, "budget": 720, "covers": "drills", "rc": 0},
                        {"tier": "lab-tests", "seconds": 10, "budget": 150, "covers": "lab", "rc": 2}])
    rows = text.splitlines()
    assert rows[2].split()[:3] == ["fast", "1:40", "4:00"] and "over" not in rows[2]
    assert "over" in rows[3] and "FAILED" in rows[4]
    assert rows[-1].split()[:4] == ["wall", "clock", "15:10", "40:00"]
    assert f"3 of {len(tiers.TIERS)} tiers run" in rows[-1]


def test_a_tier_run_beside_counts_once_in_the_wall_clock():
    text = tiers.table([{"tier": "molecule", "seconds": 500, "budget": 540, "covers": "m", "rc": 0},
                        {"tier": "lab-converge", "seconds": 600, "budget": 420, "covers": "c", "rc": 0}], wall=700)
    last = text.splitlines()[-1]
    assert last.split()[:4] == ["wall", "clock", "11:40", "40:00"] and "beside the lab tiers" in last


def test_molecule_and_ansible_lint_run_beside_only_tiers_without_timing_and_are_joined_before_the_drills():
    names = [name for name, _, _ in tiers.TIERS]
    assert tiers.BESIDE == {"molecule", "ee", "ansible-lint", "lab-image-tests"}
    # the image rebuild starts with the second converge, which leaves half the cores idle
    assert names.index("lab-image-tests") == names.index("lab-idempotence") - 1
    # the lab image is built before anything that uses it can run beside another tier
    assert names.index("lab-image") < names.index("molecule") < names.index(tiers.JOIN_BEFORE)
    assert names.index("lab-image") < names.index("ee") < names.index(tiers.JOIN_BEFORE)
    for beside in tiers.BESIDE:
        between = names[names.index(beside) + 1:names.index(tiers.JOIN_BEFORE)]
        assert between and all(name.startswith("lab-") or name in tiers.BESIDE | {"fast-core"} for name in between)


def test_make_test_runs_every_check_of_make_fast():
    makefile = (Path(tiers.ROOT) / "Makefile").read_text()

    def prerequisites(target):
        line = next(line for line in makefile.splitlines() if line.startswith(f"{target}:"))
        return line.split(":", 1)[1].split("##")[0].split()

    names = {name for name, _, _ in tiers.TIERS}
    assert "fast" not in names and {"fast-core", "ansible-lint"} <= names
    assert set(prerequisites("fast")) == {"lint", "unit", "syntax", "inventory-tests"}
    assert set(prerequisites("lint")) == {"lint-project", "ansible-lint"}
    assert set(prerequisites("fast-core")) == {"lint-project", "unit", "syntax", "inventory-tests"}


def test_a_failing_background_tier_fails_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(tiers, "LOGS", tmp_path)
    job = tiers.Background.__new__(tiers.Background)
    job.tier, job.budget, job.covers, job.log, job.seconds = "molecule", 540, "m", tmp_path / "m.log", None
    job.watcher = None
    job.log.write_text("boom\n")
    job.started = 0.0
    import subprocess
    job.proc = subprocess.Popen(["false"])
    result = job.wait()
    assert result["rc"] != 0 and result["tier"] == "molecule"


def test_an_unknown_tier_is_refused():
    assert tiers.main(["nope"]) == 2


def test_lab_check_skips_its_down_and_up_only_right_after_the_lab_tests(monkeypatch):
    calls = []

    def run(argv, cwd, env):
        calls.append((argv[-1], env.get("LAB_FRESH")))
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(tiers.subprocess, "run", run)
    monkeypatch.setattr(tiers, "ROOT", Path(tiers.ROOT))
    monkeypatch.setattr(tiers.Path, "write_text", lambda *a, **k: None)
    assert tiers.main(["lab-tests", "lab-check"]) == 0
    assert tiers.main(["lab-check"]) == 0
    assert calls == [("lab-tests", None), ("lab-check", "1"), ("lab-check", None)]
    # the lab tests' last test creates the lab from nothing (the fresh lab lab-check needs)
    lab_tests = (Path(tiers.ROOT) / "tests" / "lab" / "test_lab_lifecycle.py").read_text()
    last = lab_tests[lab_tests.rindex("\ndef test_"):]
    assert last.startswith("\ndef test_lab_comes_back_up_from_the_cached_image")
    makefile = (Path(tiers.ROOT) / "Makefile").read_text()
    check = makefile[makefile.index("\nlab-check:"):makefile.index("\nlab-converge:")]
    assert "ifndef LAB_FRESH" in check and "pmops lab down" in check


def test_a_background_tier_counts_until_it_ends_not_until_it_is_joined(tmp_path, monkeypatch):
    monkeypatch.setattr(tiers, "ROOT", tmp_path)
    monkeypatch.setattr(tiers, "LOGS", tmp_path / "logs")
    real_popen = tiers.subprocess.Popen
    monkeypatch.setattr(tiers.subprocess, "Popen", lambda *a, **k: real_popen(["true"]))
    job = tiers.Background("molecule", 540, "m")
    tiers.time.sleep(1.0)
    result = job.wait()
    assert result["rc"] == 0 and result["seconds"] < 0.8
