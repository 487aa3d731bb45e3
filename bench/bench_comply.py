#!/usr/bin/env python3
"""Compliance-run time as hosts grow: `pmops comply` on 1, 2, 4 and all 6 lab hosts (check
mode of every control + the catalogue's testinfra tests), each into a throw-away reports
directory, then all 6 again with testinfra one host at a time (`--jobs 1`), the ratio that
shows what running the hosts side by side buys. Prints a table (seconds, seconds per host,
host x control results per second) and saves JSON under bench/results/.

Usage: bench_comply.py [--sizes 1,2,4,6] [--no-testinfra] [--no-serial]   (lab up and converged)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOSTS = ["web-01", "app-01", "db-01", "app-02", "backup-01", "monitor-01"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,2,4,6", help="numbers of hosts (default 1,2,4,6)")
    parser.add_argument("--no-testinfra", action="store_true", help="check mode only")
    parser.add_argument("--no-serial", action="store_true", help="skip the run with testinfra one host at a time")
    args = parser.parse_args()
    rows = []
    runs = [(int(s), 8) for s in args.sizes.split(",")]
    if not args.no_testinfra and not args.no_serial:
        runs.append((max(size for size, _ in runs), 1))
    for size, jobs in runs:
        hosts = HOSTS[:size]
        with tempfile.TemporaryDirectory(prefix="pmops-bench-comply-") as reports:
            argv = [str(BIN / "pmops"), "comply", "-i", "inventory/lab", "--limit", ",".join(hosts),
                    "--reports", reports, "--jobs", str(jobs)] + (["--no-testinfra"] if args.no_testinfra else [])
            print(f"bench: pmops comply on {size} host(s), --jobs {jobs}", file=sys.stderr, flush=True)
            started = time.monotonic()
            proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
            seconds = time.monotonic() - started
            report = json.loads(next(Path(reports).glob("*/report.json")).read_text())
        assessed = sum(len(h["controls"]) for h in report["hosts"].values())
        rows.append({"hosts": size, "jobs": jobs, "seconds": round(seconds, 1), "per_host": round(seconds / size, 1),
                     "controls_per_s": round(assessed / seconds, 1), "exit": proc.returncode,
                     "score": report["summary"]["score"]})
    print("| hosts | --jobs | seconds | s per host | host x control results per s | score | exit |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['hosts']} | {r['jobs']} | {r['seconds']} | {r['per_host']} | {r['controls_per_s']} | {r['score']} "
              f"| {r['exit']} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"comply-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps({"testinfra": not args.no_testinfra, "rows": rows}, indent=2) + "\n")
    return 0 if all(r["exit"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
