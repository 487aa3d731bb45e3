"""Snapshot bookkeeping for pmops_backup_snapshots (pure Python, unit-tested).

restic 0.14 (Debian 12) prints `restic snapshots --json` as a list of objects with time
(RFC 3339 with nanoseconds), hostname, paths, tags, id and short_id. These helpers turn that
into what plays and reports need: each snapshot's age, the newest per tag, and which tags
are older than they may be.
"""

from __future__ import annotations

import datetime
import re

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: str) -> datetime.datetime:
    """restic's time (2026-11-24T15:32:27.123456789+08:00 or ...Z) as an aware datetime."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"snapshot time {value!r} is not a timestamp")
    text = value.strip().replace("Z", "+00:00")
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"snapshot time {value!r} has no time zone")
    return parsed


def summarise(snapshots: list, now: datetime.datetime) -> list[dict]:
    """Each snapshot with its age in seconds, newest first."""
    if not isinstance(snapshots, list):
        raise ValueError("restic snapshots --json did not print a list")
    out = []
    for snap in snapshots:
        when = parse_time(snap.get("time", ""))
        out.append({
            "id": snap.get("id", ""),
            "short_id": snap.get("short_id", snap.get("id", "")[:8]),
            "time": when.astimezone(datetime.timezone.utc).isoformat(),
            "age_seconds": max(0, round((now - when).total_seconds())),
            "host": snap.get("hostname", ""),
            "tags": sorted(snap.get("tags") or []),
            "paths": list(snap.get("paths") or []),
        })
    out.sort(key=lambda s: s["age_seconds"])
    return out


def latest_by_tag(summary: list[dict]) -> dict[str, dict]:
    """The newest snapshot of each tag (a snapshot without tags counts under "")."""
    latest: dict[str, dict] = {}
    for snap in summary:  # newest first
        for tag in snap["tags"] or [""]:
            latest.setdefault(tag, snap)
    return latest


def stale(summary: list[dict], max_age: dict[str, int]) -> list[str]:
    """Tags whose newest snapshot is older than allowed (or missing), as sentences."""
    latest = latest_by_tag(summary)
    problems = []
    for tag, limit in sorted(max_age.items()):
        snap = latest.get(tag)
        if snap is None:
            problems.append(f"{tag}: no snapshot at all")
        elif snap["age_seconds"] > limit:
            problems.append(f"{tag}: newest snapshot {snap['short_id']} is {snap['age_seconds'] // 3600} h old "
                            f"(allowed {limit // 3600} h)")
    return problems
