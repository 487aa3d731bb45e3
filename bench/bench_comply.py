#!/usr/bin/env python3
"""Compliance-run time as hosts grow, with the time of each phase: `pmops comply` (the state
in force read in one round trip per host, plus the testinfra tests of the four controls it
does not decide alone) on 1, 2, 4 and all 6 lab hosts; then on all 6 the state in force
alone (--no-testinfra) and the former shape (--check-mode: site.yml in check + diff mode
first), measured in the same run for the ratios. Each run writes to a throw-away reports
directory. Controller CPU is the rusage of the run's processes (pmops, ansible-playbook and its
forks, ansible-inventory, every testinfra pytest; the targets' own work is not in it, nor the
OpenSSH ControlPersist masters, which detach and outlive a run). Prints a table and saves JSON
under bench/results/.

Usage: bench_comply.py [--sizes 1,2,4,6] [--no-shapes]   (lab up and converged)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOSTS = ["web-01", "app-01", "db-01", "app-02", "backup-01", "monitor-01"]
SHAPES = {"default": [], "live only": ["--no-testinfra"], "--check-mode": ["--check-mode"]}


def measure(hosts: list[str], shape: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="pmops-bench-comply-") as reports:
        argv = [str(BIN / "pmops"), "comply", "-i", "inventory/lab", "--limit", ",".join(hosts),
                "--reports", reports, *SHAPES[shape]]
        print(f"bench: pmops comply on {len(hosts)} host(s), {shape}", file=sys.stderr, flush=True)
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        seconds, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        found = list(Path(reports).glob("*/report.json"))
        if not found:
            raise SystemExit(f"bench: no report from {' '.join(argv)}:\n{proc.stderr[-2000:]}")
        report = json.loads(found[0].read_text())
    phases = report["run"].get("phases") or {}
    return {"hosts": len(hosts), "shape": shape, "seconds": round(seconds, 1), "per_host": round(seconds / len(hosts), 1),
            "cpu": round(cpu, 1), "cpu_per_host": round(cpu / len(hosts), 2),
            "ansible": phases.get("ansible"), "testinfra": phases.get("testinfra"), "exit": proc.returncode,
            "score": report["summary"]["score"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,2,4,6", help="numbers of hosts (default 1,2,4,6)")
    parser.add_argument("--no-shapes", action="store_true", help="skip the live-only and --check-mode runs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(HOSTS[:size], "default") for size in sizes]
    if not args.no_shapes:
        rows += [measure(HOSTS[:max(sizes)], shape) for shape in ("live only", "--check-mode")]
    print("| hosts | shape | seconds | s per host | controller CPU s | CPU s per host | Ansible done at (s) "
          "| testinfra done at (s) | score | exit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['hosts']} | {r['shape']} | {r['seconds']} | {r['per_host']} | {r['cpu']} | {r['cpu_per_host']} | "
              f"{r['ansible']} | "
              f"{r['testinfra'] if r['testinfra'] is not None else '-'} | {r['score']} | {r['exit']} |")
    base = next((r for r in rows if r["shape"] == "default" and r["hosts"] == max(sizes)), None)
    for r in rows:
        if base and r["shape"] != "default":
            print(f"{r['shape']} on {r['hosts']} hosts: {r['seconds'] / base['seconds']:.2f}x the default run")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"comply-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0 if all(r["exit"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
