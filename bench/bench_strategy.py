#!/usr/bin/env python3
"""Controller cost of a playbook run with the project's strategy (strategy_plugins/
mitogen_linear.py): site.yml in check mode on the converged lab, with the filter and test
plugins loaded before the workers fork (the default) and without (PMOPS_WARM_JINJA_PLUGINS=0),
alternated round by round so that both see the same machine. Wall clock and the CPU of
ansible-playbook and its children (user, sys) per run, then the ratios. Prints a table and
saves JSON under bench/results/.

Usage: bench_strategy.py [--limit web-01] [--rounds 2]   (lab up and converged)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SHAPES = {"warm (default)": "1", "cold": "0"}


def measure(shape: str, limit: str | None) -> dict:
    env = dict(os.environ, PMOPS_WARM_JINJA_PLUGINS=SHAPES[shape], ANSIBLE_NOCOLOR="1")
    argv = [str(BIN / "ansible-playbook"), "-i", "inventory/lab", "playbooks/site.yml", "--check"]
    argv += ["--limit", limit] if limit else []
    print(f"bench: site.yml --check{' --limit ' + limit if limit else ''}, {shape}", file=sys.stderr, flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{proc.stdout[-3000:]}")
    return {"shape": shape, "seconds": round(seconds, 1), "user": round(after.ru_utime - before.ru_utime, 1),
            "sys": round(after.ru_stime - before.ru_stime, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", default=None, help="hosts (default: the whole lab)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each shape, alternated (default 2)")
    args = parser.parse_args()
    rows = [measure(shape, args.limit) for _ in range(args.rounds) for shape in SHAPES]
    print("| run | shape | seconds | CPU user (s) | CPU sys (s) | CPU total (s) |")
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(f"| {i} | {r['shape']} | {r['seconds']} | {r['user']} | {r['sys']} | {round(r['user'] + r['sys'], 1)} |")
    mean = {shape: {k: sum(r[k] for r in rows if r["shape"] == shape) / args.rounds for k in ("seconds", "user", "sys")}
            for shape in SHAPES}
    warm, cold = mean["warm (default)"], mean["cold"]
    print(f"warm/cold: wall {warm['seconds'] / cold['seconds']:.2f}x, "
          f"CPU {(warm['user'] + warm['sys']) / (cold['user'] + cold['sys']):.2f}x")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"strategy-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps({"limit": args.limit, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
