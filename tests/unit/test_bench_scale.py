"""bench_scale's arithmetic: where slicing's extra CPU falls within the goal."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench_scale", Path(__file__).parents[2] / "bench" / "bench_scale.py")
bench_scale = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench_scale)


def rows(fixed, per_host, start, extra, sizes=(6, 12, 24, 48), slices=4):
    return [{"hosts": h, "comply": {"cpu": fixed + per_host * h},
             "slices": {"cpu": fixed + per_host * h + (slices - 1) * start + extra * h}} for h in sizes]


def test_the_fit_recovers_the_costs_and_the_smallest_host_count():
    fit = bench_scale.break_even(rows(1.0, 2.7, 1.7, 0.15), 4)
    assert fit["fixed"] == pytest.approx(1.0) and fit["per_host"] == pytest.approx(2.7)
    assert fit["start_per_slice"] == pytest.approx(1.7) and fit["extra_per_host"] == pytest.approx(0.15)
    h = fit["smallest"]
    ratio = [(1.0 + 2.7 * n + 3 * 1.7 + 0.15 * n) / (1.0 + 2.7 * n) for n in (h - 1, h)]
    assert ratio[0] > 1.15 >= ratio[1]


def test_an_extra_per_host_above_the_margin_never_breaks_even():
    assert bench_scale.break_even(rows(1.8, 3.0, 0.1, 0.63), 4)["smallest"] is None


def test_the_tables_say_where_slicing_breaks_even():
    saved = [{"hosts": r["hosts"], "comply": {**r["comply"], "seconds": 3.0 * r["hosts"], "scores": [100.0]},
              "slices": {**r["slices"], "seconds": 3.2 * r["hosts"]},
              "rerun_mitogen": {"cpu": 0.06 * 100 * r["hosts"], "host_tasks": 100 * r["hosts"], "changed": 0,
                                "seconds": 2.0 * r["hosts"]},
              "floor_mitogen": {"cpu_per_ht": 0.035, "wall_per_ht": 0.01},
              "floor_stock": {"cpu_per_ht": 0.05, "wall_per_ht": 0.04}} for r in rows(1.0, 2.7, 1.7, 0.15)]
    text = "\n".join(bench_scale.tables(saved, 4))
    assert "within 1.15 from 20 hosts (5.0 per slice)" in text


def test_one_host_already_within_the_goal_breaks_even_at_one():
    assert bench_scale.break_even(rows(10.0, 2.7, 0.1, 0.0), 4)["smallest"] == 1
