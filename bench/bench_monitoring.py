#!/usr/bin/env python3
"""What monitoring costs on the converged lab, read from Prometheus itself: series per host
(and per job on each host), Prometheus' memory (resident set) and its head series, and the
time of each rule group's last evaluation. The goal of issue 15: at most 1,500 series per host.
Prints tables and saves JSON under bench/results/.

Usage: bench_monitoring.py [--goal 1500]   (lab up and converged; a minute after the converge,
so that every target has been scraped)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pmops.status import connect  # noqa: E402


def table(header: list[str], rows: list[list]) -> str:
    widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--goal", type=int, default=1500, help="series per host at most (default 1500)")
    args = parser.parse_args(argv)
    prom = connect("inventory/lab")
    by_host_job = prom.query('count by (host, job) ({__name__=~".+", job!="blackbox_https"})')
    per_host: dict[str, dict[str, int]] = {}
    for r in by_host_job:
        per_host.setdefault(r["metric"].get("host", "(none: rules, ALERTS)"), {})[r["metric"].get("job", "?")] = int(float(r["value"][1]))
    probes = int(float((prom.query('count({job="blackbox_https"})') or [{"value": [0, "0"]}])[0]["value"][1]))
    rows = []
    for host in sorted(per_host):
        jobs = per_host[host]
        total = sum(jobs.values())
        rows.append([host, total, ", ".join(f"{j} {n}" for j, n in sorted(jobs.items())),
                     "ok" if total <= args.goal else f"OVER {args.goal}"])
    head = prom.query("prometheus_tsdb_head_series")
    rss = prom.query('process_resident_memory_bytes{job="prometheus"}')
    groups = prom.get("/api/v1/rules")["groups"]
    rule_rows = [[g["name"], len(g["rules"]), f"{g.get('evaluationTime', 0) * 1000:.2f}"] for g in groups]
    summary = {
        "head_series": int(float(head[0]["value"][1])) if head else None,
        "prometheus_rss_mib": round(float(rss[0]["value"][1]) / 2**20, 1) if rss else None,
        "probe_series": probes,
        "rule_evaluation_ms_total": round(sum(g.get("evaluationTime", 0) for g in groups) * 1000, 2),
    }
    print(f"Series per host (goal: at most {args.goal}), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(table(["host", "series", "by job", "goal"], rows))
    print()
    print(table(["figure", "value"], [[k.replace("_", " "), v] for k, v in summary.items()]))
    print()
    print(table(["rule group", "rules", "last evaluation (ms)"], rule_rows))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"monitoring-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json").write_text(
        json.dumps({"hosts": per_host, "summary": summary, "rule_groups": rule_rows}, indent=1))
    return 0 if all(r[3] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
