#!/usr/bin/env python3
"""What running as AWX does costs per job: the same short job (`pmops comply --no-testinfra` on
one lab host: the live state read in one round trip) run here in the virtualenv, in the
execution environment (ansible-runner's process isolation, podman), and sent to an execution
node (ansible-runner transmit here, worker there, process here): a container of the execution
environment (podman's standard input and output), and the same reached over SSH
(pmops/lab/node.py); each several times in turn in one run, so that the machine's noise falls
on all four.
The per-host results of every run must equal the virtualenv's (timestamps aside), or the
benchmark stops. Prints a table (median seconds, added seconds per job) and saves JSON under
bench/results/.

Usage: bench_awx.py [--host backup-01] [--rounds 3]   (lab up and converged; `make ee` done)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
from pmops.lab.node import ssh_execution_node  # noqa: E402


def image() -> str:
    proc = subprocess.run([str(BIN / "pmops"), "ee", "build"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: pmops ee build failed:\n{proc.stderr[-2000:]}")
    return proc.stdout.split()[-1]


def run(mode: list[str], host: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="pmops-bench-awx-") as reports:
        argv = [str(BIN / "pmops"), *mode, "comply", "--no-testinfra", "-i", "inventory/lab", "--limit", host,
                "--reports", reports, "--json", f"{reports}/report.json"]
        started = time.monotonic()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        seconds = time.monotonic() - started
        path = Path(reports) / "report.json"
        if not path.exists():
            raise SystemExit(f"bench: no report from {' '.join(argv)}:\n{proc.stderr[-2000:]}")
        return seconds, json.loads(path.read_text())["hosts"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="backup-01", help="the lab host of the job (default backup-01)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode, in turn (default 3)")
    args = parser.parse_args()
    ee = image()
    with tempfile.TemporaryDirectory(prefix="pmops-bench-node-") as node_dir, \
            ssh_execution_node(ee, Path(node_dir)) as (node, config):
        os.environ["PMOPS_WORKER_SSH_CONFIG"] = str(config)
        return measure(args, ee, {"virtualenv": [], "execution environment (--ee)": ["--ee", ee],
                                  "execution node (--worker podman:EE)": ["--worker", f"podman:{ee}"],
                                  "execution node over SSH (--worker ssh:NODE)": ["--worker", f"ssh:{node}"]})


def measure(args, ee: str, modes: dict[str, list[str]]) -> int:
    times: dict[str, list[float]] = {name: [] for name in modes}
    reference = None
    for n in range(args.rounds):
        for name, mode in modes.items():
            print(f"bench: round {n + 1}/{args.rounds}, {name}", file=sys.stderr, flush=True)
            seconds, hosts = run(mode, args.host)
            reference = reference if reference is not None else hosts
            if hosts != reference:
                raise SystemExit(f"bench: {name} reported otherwise than the virtualenv on {args.host}")
            times[name].append(round(seconds, 2))
    base = statistics.median(times["virtualenv"])
    print(f"| job: pmops comply --no-testinfra -l {args.host} | runs | median s | min s | added s per job |")
    print("|---|---|---|---|---|")
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append({"mode": name, "runs": values, "median": median, "added": round(median - base, 2)})
        print(f"| {name} | {len(values)} | {median:.2f} | {min(values):.2f} | {median - base:+.2f} |")
    print(f"\nimage {ee}; every run's per-host results equal the virtualenv's")
    out = ROOT / "bench" / "results" / f"awx-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"host": args.host, "image": ee, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
