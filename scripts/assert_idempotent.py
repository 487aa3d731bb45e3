#!/usr/bin/env python3
"""Run a playbook and fail unless every host reports changed=0 and failed=0.

Usage: assert_idempotent.py [ansible-playbook arguments...]
The playbook's own output is shown as it runs; the verdict comes from PLAY RECAP.
"""

from __future__ import annotations

import re
import subprocess
import sys

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                   r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_recap(text: str) -> dict[str, dict[str, int]]:
    hosts = {}
    for line in text.splitlines():
        match = RECAP.match(ANSI.sub("", line))
        if match:
            hosts[match["host"]] = {k: int(v) for k, v in match.groupdict().items() if k != "host"}
    return hosts


def main(argv: list[str]) -> int:
    proc = subprocess.Popen(["ansible-playbook", *argv], stdout=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line)
    proc.wait()
    recap = parse_recap("".join(lines))
    if proc.returncode != 0 or not recap:
        print(f"idempotence: the playbook failed (exit {proc.returncode})", file=sys.stderr)
        return 1
    changed = {h: r["changed"] for h, r in recap.items() if r["changed"] or r["failed"] or r["unreachable"]}
    if changed:
        print(f"idempotence: FAILED, the second run changed something: {changed}", file=sys.stderr)
        return 1
    print(f"idempotence: ok, changed=0 on all {len(recap)} hosts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
