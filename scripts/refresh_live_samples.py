#!/usr/bin/env python3
"""Refresh tests/unit/data/live-<host>.json from the converged lab: the live-state play's
`wanted` and `live` of each host, as pmops comply reads them (playbooks/comply.yml, check mode).
Run it after a role's `wanted` or the pmops_live_state module changes shape, on a lab that
`make lab-converge` has just converged; tests/unit/test_checks.py then judges the new samples.

    python scripts/refresh_live_samples.py [host ...]   (default: every host that has a sample)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pmops import runner  # noqa: E402

DATA = ROOT / "tests" / "unit" / "data"


def main(argv: list[str]) -> int:
    hosts = argv or sorted(p.stem.removeprefix("live-") for p in DATA.glob("live-*.json"))
    result = runner.run_playbook("playbooks/comply.yml", "inventory/lab", check=True, label="live state",
                                 limit=",".join(hosts))
    wanted: dict[str, dict] = {h: {} for h in hosts}
    live: dict[str, dict] = {}
    for event in result.events:
        if event.get("host") in wanted and event.get("wanted"):
            wanted[event["host"]].update(event["wanted"])
        if event.get("host") in wanted and isinstance(event.get("live"), dict):
            live[event["host"]] = event["live"]
    missing = sorted(set(hosts) - set(live))
    if missing:
        print(f"refresh_live_samples: no live state from {', '.join(missing)} (ansible exit {result.rc})", file=sys.stderr)
        return 1
    for host in hosts:
        path = DATA / f"live-{host}.json"
        path.write_text(json.dumps({"live": live[host], "wanted": wanted[host]}, sort_keys=True, separators=(",", ":")) + "\n")
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
