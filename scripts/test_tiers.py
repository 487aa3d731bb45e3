#!/usr/bin/env python3
"""`make test`: every tier, fastest first, stopping at the first that fails, then a table of
each tier's time against its budget and the wall clock against the 40 minutes `make test` may
take from a clean clone on the project's 2-core machine (CI's hard limit is 90). Also written
to .cache/test-times.json.

Molecule runs beside the lab tiers (see BESIDE). A tier over its budget does not fail the run:
the table says so, and the next change should win the time back. Change a budget only with
the reason in the commit message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".cache" / "test-logs"
# (make target, budget in seconds, what it covers). In this order, one at a time, except
# BESIDE: started in the background when its turn comes, its output kept in a log file, and
# waited for before JOIN_BEFORE. Molecule uses throw-away containers of its own, so it runs
# beside the lab tiers that have no timing in them (the drills do: requests under load).
# Budgets from the clean-clone run of 2026-12-01 (34:12 in all), each a little over its time;
# issue 15's monitoring took more for converge (its packages) and the drills (alerts a-f, status).
TIERS = [
    ("lab-image", 15, "the lab image (cached by its recipe)"),
    ("molecule", 420, "molecule scenarios, beside the tiers below"),
    ("ee", 300, "the execution environment (cached by its definition), beside the tiers below"),
    ("fast-core", 110, "lints but ansible-lint, unit tests, syntax, bad inventories"),
    ("ansible-lint", 150, "ansible-lint, beside the lab tiers below"),
    ("lab-tests", 150, "pmops lab itself (up twice, leftovers, down)"),
    ("lab-check", 210, "a fresh lab, site.yml in check mode"),
    ("lab-converge", 470, "converge site.yml"),
    ("lab-image-tests", 240, "an interrupted image build rebuilt, beside the tiers below"),
    ("lab-idempotence", 185, "second converge, changed=0 (the image rebuild beside it)"),
    ("lab-verify", 85, "testinfra on six hosts"),
    ("lab-drills", 1115, "failure drills"),
]
# Molecule starts first, beside fast-core, whose lints and tests leave 45 % of the cores idle
# over two minutes (a cold machine builds the lab image first, so the lints report a few
# minutes later there). ansible-lint needs no host and spends 90 s of both cores; beside lab-tests, which leave
# about 40 % of the cores idle (debootstrap is one process; containers boot), it costs little.
# The second converge changes nothing and waits on round trips, not on the cores (process
# accounting of one alone: 184 s of CPU in 174 s on two cores, so half of them idle), so the
# interrupted image build (105 s alone, mostly one debootstrap process) runs beside it; beside
# the first converge it cost that one about a minute (8:24 -> 9:21). testinfra does not gain
# there: it spends the controller's CPU (the dev lab: the second converge 2:56 and testinfra
# 1:23 one after the other, 4:23 side by side).
# The execution environment's build (cached by a digest of ee/, the lock and the lab image, so
# seconds when nothing changed; a few minutes of pip and apt in podman when it did) starts with
# them: the drills' execution environment test (test_awx_ready.py) only asks for its tag.
BESIDE = {"molecule", "ee", "ansible-lint", "lab-image-tests"}
# lab-tests end with `pmops lab up` from nothing (tests/lab: the last test), which is the
# fresh lab lab-check needs; run right after them, lab-check skips its own down and up.
LEAVES_FRESH = {"lab-tests"}
WANTS_FRESH = {"lab-check"}
JOIN_BEFORE = "lab-drills"
# Wall-clock budget of the whole run from a clean clone on the project's 2-core machine.
BUDGET = 40 * 60
# The tiers' budgets (those run one after another) add up to BUDGET less ROOM: the room kept
# for what the next issues add. A tier over its budget eats into it. Issue 15 (monitoring: its
# packages in every converge, six alert drills) took two of the three minutes kept; the next
# change wins time back before it adds any (DEVELOPERS.md, "Time in make test").
ROOM = 1 * 60


def minutes(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def table(results: list[dict], wall: float | None = None) -> str:
    lines = [f"{'tier':<16} {'time':>7} {'budget':>7}  {'':<6}  covers",
             f"{'-' * 16} {'-' * 7} {'-' * 7}  {'-' * 6}  {'-' * 40}"]
    for r in results:
        flag = "FAILED" if r["rc"] else ("over" if r["seconds"] > r["budget"] else "")
        lines.append(f"{r['tier']:<16} {minutes(r['seconds']):>7} {minutes(r['budget']):>7}  {flag:<6}  {r['covers']}")
    total = wall if wall is not None else sum(r["seconds"] for r in results)
    lines.append(f"{'wall clock':<16} {minutes(total):>7} {minutes(BUDGET):>7}  "
                 f"{'over' if total > BUDGET else '':<6}  {len(results)} of {len(TIERS)} tiers run"
                 + (f" ({', '.join(sorted(BESIDE))} beside the lab tiers)" if BESIDE & {r['tier'] for r in results} else ""))
    return "\n".join(lines)


class Background:
    """A tier running beside the others: its output goes to a log, printed when it ends."""

    def __init__(self, tier: str, budget: int, covers: str) -> None:
        self.tier, self.budget, self.covers = tier, budget, covers
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"{tier}.log"
        self.started = time.monotonic()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(["make", "--no-print-directory", tier], cwd=ROOT, env=os.environ,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.seconds: float | None = None
        # its own time is until it ends, not until it is joined
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()
        print(f"\n==== make {tier} started beside the next tiers (budget {minutes(budget)}; "
              f"output in {self.log.relative_to(ROOT)}, printed when it ends) ====", flush=True)

    def _watch(self) -> None:
        self.proc.wait()
        self.seconds = round(time.monotonic() - self.started, 1)

    def wait(self) -> dict:
        rc = self.proc.wait()
        if self.watcher is not None:
            self.watcher.join()
        if self.seconds is None:
            self.seconds = round(time.monotonic() - self.started, 1)
        print(f"\n==== make {self.tier} (ran beside; {minutes(self.seconds)}) ====", flush=True)
        sys.stdout.write(self.log.read_text(errors="replace"))
        sys.stdout.flush()
        return {"tier": self.tier, "seconds": self.seconds, "budget": self.budget, "covers": self.covers, "rc": rc}

    def stop(self) -> dict:
        """Another tier failed: the run is over, so stop this one rather than wait for it."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            print(f"\n==== make {self.tier} stopped: a tier beside it failed ====", flush=True)
        return self.wait()


def main(argv: list[str]) -> int:
    wanted = argv or [t for t, _, _ in TIERS]
    unknown = [t for t in wanted if t not in {name for name, _, _ in TIERS}]
    if unknown:
        print(f"test_tiers: unknown tier {', '.join(unknown)}; tiers: {', '.join(t for t, _, _ in TIERS)}",
              file=sys.stderr)
        return 2
    results: list[dict] = []
    background: list[Background] = []
    rc = 0
    began = time.monotonic()
    for tier, budget, covers in TIERS:
        if tier not in wanted:
            continue
        if tier == JOIN_BEFORE:
            for job in background:
                results.append(job.wait())
                rc = rc or results[-1]["rc"]
            background = []
            if rc:
                break
        if tier in BESIDE and len(wanted) > 1:
            background.append(Background(tier, budget, covers))
            continue
        print(f"\n==== make {tier} (budget {minutes(budget)}) ====", flush=True)
        started = time.monotonic()
        env = dict(os.environ)
        if results and results[-1]["tier"] in LEAVES_FRESH and tier in WANTS_FRESH:
            env["LAB_FRESH"] = "1"  # the tier before left a lab created from nothing: no second down and up
        rc = subprocess.run(["make", "--no-print-directory", tier], cwd=ROOT, env=env).returncode
        results.append({"tier": tier, "seconds": round(time.monotonic() - started, 1), "budget": budget,
                        "covers": covers, "rc": rc})
        if rc:
            break
    for job in background:
        results.append(job.stop() if rc else job.wait())
        rc = rc or results[-1]["rc"]
    wall = round(time.monotonic() - began, 1)
    out = ROOT / ".cache" / "test-times.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "budget_seconds": BUDGET, "wall_seconds": wall, "tiers": results}, indent=1) + "\n")
    print("\nmake test: time per tier\n" + table(results, wall), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
