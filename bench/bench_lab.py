#!/usr/bin/env python3
"""Benchmark the lab and the first playbook: prints a table (and saves JSON under bench/results/).

  1. `pmops lab up` from nothing (no image: debootstrap + import + six hosts)
  2. `pmops lab up` from the cached image
  3. site.yml, first converge on the fresh lab
  4. site.yml, idempotent re-run, and its cost per task execution

Figures from one run on one machine; compare ratios within a run, not across machines.
Use --skip-image-build to keep the cached image (step 1 is then left out).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from assert_idempotent import parse_recap  # noqa: E402

BIN = Path(sys.executable).parent
ENV = dict(os.environ, CONTAINERS_CONF=str(ROOT / "lab" / "containers.conf"), ANSIBLE_FORCE_COLOR="0")


def timed(argv: list[str]) -> tuple[float, str]:
    print(f"bench: {' '.join(Path(a).name if a.startswith('/') else a for a in argv)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-image-build", action="store_true", help="keep the cached image")
    args = parser.parse_args()
    pmops = str(BIN / "pmops")
    playbook = [str(BIN / "ansible-playbook"), "-i", "inventory/lab", "playbooks/site.yml"]
    rows = []

    if not args.skip_image_build:
        timed([pmops, "lab", "down", "--purge-image"])
        secs, _ = timed([pmops, "lab", "up"])
        rows.append(("lab up from nothing (image build + 6 hosts)", secs, ""))
    timed([pmops, "lab", "down"])
    secs, _ = timed([pmops, "lab", "up"])
    rows.append(("lab up from the cached image (6 hosts)", secs, ""))

    secs, out = timed(playbook)
    recap = parse_recap(out)
    changed = sum(r["changed"] for r in recap.values())
    rows.append(("site.yml first converge", secs, f"{len(recap)} hosts, {changed} changes"))

    secs, out = timed(playbook)
    recap = parse_recap(out)
    changed = sum(r["changed"] for r in recap.values())
    # Task executions: every ok (changed included) or skipped task on every host.
    tasks = sum(r["ok"] for r in recap.values())
    rows.append(("site.yml idempotent re-run", secs, f"changed={changed}, {tasks} task runs"))
    rows.append(("  per task run (re-run / task runs)", secs / max(tasks, 1), f"{len(recap)} hosts in parallel"))
    rows.append(("  per task, one host's view (re-run / tasks per host)", secs / max(tasks / len(recap), 1), ""))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'step':<{width}}  {'seconds':>8}  notes")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 30}")
    for name, secs, note in rows:
        print(f"{name:<{width}}  {secs:>8.2f}  {note}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (results / f"lab-{stamp}.json").write_text(json.dumps(
        [{"step": n, "seconds": round(s, 3), "notes": t} for n, s, t in rows], indent=2))
    print(f"\nsaved bench/results/lab-{stamp}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
