#!/usr/bin/env python3
"""Controller cost of a playbook run with the project's strategy
(strategy_plugins/mitogen_linear.py), one of its additions on (the default) and off, alternated
round by round so that both see the same machine: site.yml in check mode on the converged lab,
by default.

- warm: the filter and test plugins loaded before the workers fork, or in every worker
  (PMOPS_WARM_JINJA_PLUGINS=0);
- wait: the controller waits for a free worker and for results without polling, or in
  ansible-core's polling loops (PMOPS_BLOCKING_WAITS=0). It shows most on more hosts than
  forks: the scale lab (`-i .lab/scale --limit 'gen-*'`);
- freeze: workers forked with the controller's objects frozen (gc.freeze), or not
  (PMOPS_GC_FREEZE=0).

Wall clock and the CPU of ansible-playbook and its children (user, sys) per run, then the
ratios. Prints a table and saves JSON under bench/results/.

Usage: bench_strategy.py [--switch warm|wait|freeze] [-i inventory/lab] [--limit web-01] [--rounds 2]
                         [--tags TAGS]   (lab up and converged)
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
SWITCHES = {"warm": ("PMOPS_WARM_JINJA_PLUGINS", {"warm (default)": "1", "cold": "0"}),
            "wait": ("PMOPS_BLOCKING_WAITS", {"blocking waits (default)": "1", "core polling": "0"}),
            "freeze": ("PMOPS_GC_FREEZE", {"frozen heap (default)": "1", "unfrozen": "0"})}


def measure(switch: str, shape: str, args: argparse.Namespace) -> dict:
    variable, shapes = SWITCHES[switch]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", **{variable: shapes[shape]})
    extra = [*(["--limit", args.limit] if args.limit else []), *(["--tags", args.tags] if args.tags else [])]
    argv = [str(BIN / "ansible-playbook"), "-i", args.inventory, "playbooks/site.yml", "--check", *extra]
    print(f"bench: site.yml --check {' '.join(extra)}, {shape}", file=sys.stderr, flush=True)
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
    parser.add_argument("--switch", choices=sorted(SWITCHES), default="warm", help="the addition on and off")
    parser.add_argument("-i", "--inventory", default="inventory/lab", help="inventory (default inventory/lab)")
    parser.add_argument("--limit", default=None, help="hosts (default: the whole inventory)")
    parser.add_argument("--tags", default=None, help="only these tags of site.yml")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each shape, alternated (default 2)")
    args = parser.parse_args()
    shapes = list(SWITCHES[args.switch][1])
    rows = [measure(args.switch, shape, args) for _ in range(args.rounds) for shape in shapes]
    print("| run | shape | seconds | CPU user (s) | CPU sys (s) | CPU total (s) |")
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(f"| {i} | {r['shape']} | {r['seconds']} | {r['user']} | {r['sys']} | {round(r['user'] + r['sys'], 1)} |")
    mean = {shape: {k: sum(r[k] for r in rows if r["shape"] == shape) / args.rounds for k in ("seconds", "user", "sys")}
            for shape in shapes}
    on, off = mean[shapes[0]], mean[shapes[1]]
    print(f"{shapes[0]} / {shapes[1]}: wall {on['seconds'] / off['seconds']:.2f}x, "
          f"CPU {(on['user'] + on['sys']) / (off['user'] + off['sys']):.2f}x")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"strategy-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps({"switch": args.switch, "inventory": args.inventory, "limit": args.limit,
                    "tags": args.tags, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
