#!/usr/bin/env python3
"""Hardening speed on one lab host: first converge and idempotent re-run of the hardening
and ssh roles (tags hardening,ssh), on a host re-created from the lab image and given its
baseline first. Prints a table and saves JSON under bench/results/.

Usage: bench_hardening.py [--host app-02]     (the lab must be up)
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


# Mitogen is the project's default strategy (ansible.cfg); the stock one is measured beside it.
STOCK = dict(ENV, ANSIBLE_STRATEGY="linear")


def run(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    print(f"bench: {' '.join(argv[:6])} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env or ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return time.monotonic() - started, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="app-02")
    args = parser.parse_args()
    subprocess.run(["podman", "rm", "--force", f"pmops-{args.host}"], env=ENV, capture_output=True)
    run([str(BIN / "pmops"), "lab", "up"])
    play = [str(BIN / "ansible-playbook"), "-i", "inventory/lab", "playbooks/site.yml", "--limit", args.host]
    run(play + ["--tags", "baseline"])
    rows = []
    for label, env in (("first converge", ENV), ("idempotent re-run", ENV),
                       ("idempotent re-run, stock strategy", STOCK)):
        secs, out = run(play + ["--tags", "hardening,ssh"], env)
        recap = parse_recap(out).get(args.host, {})
        rows.append((f"hardening + ssh, {label}", secs, recap.get("ok", 0), recap.get("changed", 0)))
    print(f"\n{'step':<40} {'seconds':>8} {'tasks ok':>9} {'changed':>8}")
    for name, secs, ok, changed in rows:
        print(f"{name:<40} {secs:>8.1f} {ok:>9} {changed:>8}")
    print(f"{'  per task on the re-run':<36} {rows[1][1] / max(rows[1][2], 1):>8.2f}")
    print(f"{'  per task on the re-run, stock':<36} {rows[2][1] / max(rows[2][2], 1):>8.2f}")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out_dir / f"hardening-{stamp}.json").write_text(json.dumps(
        [{"step": n, "seconds": round(s, 2), "ok": o, "changed": c} for n, s, o, c in rows], indent=2))
    print(f"\nsaved bench/results/hardening-{stamp}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
