#!/usr/bin/env python3
"""`make test`: every tier in order, fastest first, stopping at the first that fails, then a
table of each tier's time against its budget (also written to .cache/test-times.json).

The budgets add up to the 40 minutes `make test` may take from a clean clone on the project's
2-core machine; CI's hard limit is 90. A tier over its budget does not fail the run: the table
says so, and the next change should win the time back. Change a budget only with the reason
in the commit message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (make target, budget in seconds, what it covers)
TIERS = [
    ("fast", 240, "lint, unit tests, syntax, bad inventories"),
    ("molecule", 240, "molecule scenarios"),
    ("lab-check", 210, "a fresh lab, site.yml in check mode"),
    ("lab-converge", 420, "converge site.yml"),
    ("lab-idempotence", 180, "second converge, changed=0"),
    ("lab-verify", 240, "testinfra on six hosts"),
    ("lab-drills", 720, "failure drills"),
    ("lab-tests", 150, "pmops lab itself"),
]
BUDGET = sum(budget for _, budget, _ in TIERS)


def minutes(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def table(results: list[dict]) -> str:
    lines = [f"{'tier':<16} {'time':>7} {'budget':>7}  {'':<6}  covers",
             f"{'-' * 16} {'-' * 7} {'-' * 7}  {'-' * 6}  {'-' * 40}"]
    for r in results:
        flag = "FAILED" if r["rc"] else ("over" if r["seconds"] > r["budget"] else "")
        lines.append(f"{r['tier']:<16} {minutes(r['seconds']):>7} {minutes(r['budget']):>7}  {flag:<6}  {r['covers']}")
    total = sum(r["seconds"] for r in results)
    lines.append(f"{'total':<16} {minutes(total):>7} {minutes(BUDGET):>7}  "
                 f"{'over' if total > BUDGET else '':<6}  {len(results)} of {len(TIERS)} tiers run")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    wanted = argv or [t for t, _, _ in TIERS]
    unknown = [t for t in wanted if t not in {name for name, _, _ in TIERS}]
    if unknown:
        print(f"test_tiers: unknown tier {', '.join(unknown)}; tiers: {', '.join(t for t, _, _ in TIERS)}",
              file=sys.stderr)
        return 2
    results = []
    rc = 0
    for tier, budget, covers in TIERS:
        if tier not in wanted:
            continue
        print(f"\n==== make {tier} (budget {minutes(budget)}) ====", flush=True)
        started = time.monotonic()
        rc = subprocess.run(["make", "--no-print-directory", tier], cwd=ROOT, env=os.environ).returncode
        results.append({"tier": tier, "seconds": round(time.monotonic() - started, 1), "budget": budget,
                        "covers": covers, "rc": rc})
        if rc:
            break
    out = ROOT / ".cache" / "test-times.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "budget_seconds": BUDGET, "tiers": results}, indent=1) + "\n")
    print("\nmake test: time per tier\n" + table(results), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
