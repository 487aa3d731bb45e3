#!/usr/bin/env python3
"""Lynis hardening index: an untouched host beside a converged lab host, in one run.

The untouched host is a throw-away container from the same lab image (never converged);
the converged host is a lab host after site.yml. Lynis (Debian package) is installed on
both and run as `lynis audit system --quick --no-colors`; the index, warnings and
suggestions are read from /var/log/lynis-report.dat. Prints a table and saves JSON.

Usage: bench_lynis.py [--host web-01]     (the lab must be up and converged)
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
sys.path.insert(0, str(ROOT))
from pmops import lab  # noqa: E402

ENV = dict(os.environ, CONTAINERS_CONF=str(lab.CONTAINERS_CONF))
UNTOUCHED = "pmops-bench-untouched"


def podman(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"bench: podman {' '.join(args[:3])} failed: {proc.stderr.strip()}")
    return proc.stdout


def lynis(container: str) -> dict:
    print(f"bench: lynis on {container}", file=sys.stderr, flush=True)
    podman("exec", container, "sh", "-c",
           "command -v lynis >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
           "apt-get install -y -qq --no-install-recommends lynis >/dev/null)")
    started = time.monotonic()
    podman("exec", container, "lynis", "audit", "system", "--quick", "--no-colors", check=False)
    elapsed = time.monotonic() - started
    report = podman("exec", container, "cat", "/var/log/lynis-report.dat")
    values: dict[str, list[str]] = {}
    for line in report.splitlines():
        key, _, value = line.partition("=")
        values.setdefault(key.rstrip("[]"), []).append(value)
    return {
        "index": int(values.get("hardening_index", ["0"])[0]),
        "warnings": values.get("warning", []),
        "suggestions": values.get("suggestion", []),
        "seconds": round(elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="web-01", help="converged lab host to audit")
    args = parser.parse_args()
    topo = lab.load_topology()
    host = topo.host(args.host)
    tag, _ = lab.ensure_image()
    podman("rm", "--force", UNTOUCHED, check=False)
    podman("run", "--detach", "--name", UNTOUCHED, "--hostname", "untouched", "--network", topo.network,
           "--label", f"{lab.LABEL}=1",
           "--systemd=always", "--no-hosts", "--cap-add", "NET_ADMIN", "--cap-add", "AUDIT_WRITE", tag, "/sbin/init")
    try:
        lab.wait_for_systemd(UNTOUCHED)
        results = {"untouched": lynis(UNTOUCHED), args.host: lynis(host.container)}
    finally:
        podman("rm", "--force", UNTOUCHED, check=False)
    print(f"\n{'host':<12} {'hardening index':>16} {'warnings':>9} {'suggestions':>12} {'lynis s':>8}")
    for name, r in results.items():
        print(f"{name:<12} {r['index']:>16} {len(r['warnings']):>9} {len(r['suggestions']):>12} {r['seconds']:>8}")
    for name, r in results.items():
        print(f"\n{name}: warnings")
        for w in r["warnings"]:
            print(f"  {w}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"lynis-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(f"\nsaved bench/results/lynis-{stamp}.json (suggestions listed there)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
