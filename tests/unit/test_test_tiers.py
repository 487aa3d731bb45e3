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


def test_the_table_flags_a_tier_over_budget_and_a_failed_one():
    text = tiers.table([{"tier": "fast", "seconds": 100, "budget": 240, "covers": "lint", "rc": 0},
                        {"tier": "lab-drills", "seconds": 800, "budget": 720, "covers": "drills", "rc": 0},
                        {"tier": "lab-tests", "seconds": 10, "budget": 150, "covers": "lab", "rc": 2}])
    rows = text.splitlines()
    assert rows[2].split()[:3] == ["fast", "1:40", "4:00"] and "over" not in rows[2]
    assert "over" in rows[3] and "FAILED" in rows[4]
    assert rows[-1].split()[:3] == ["total", "15:10", "40:00"] and "3 of 8 tiers run" in rows[-1]


def test_an_unknown_tier_is_refused():
    assert tiers.main(["nope"]) == 2
