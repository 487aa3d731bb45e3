"""Compliance reports: one result per host and control, from the check-mode run and the
testinfra suite, written as report.json (schema below), junit.xml and report.html.

report.json, schema "pmops-compliance/1" (fields are only ever added, never renamed):

  schema       "pmops-compliance/1"
  run          id (the report directory's name), started / finished (UTC, ISO 8601), seconds,
               inventory, limit, user, git_commit, git_dirty, threshold, pmops_version, testinfra,
               check_mode, execution {ee, worker}, phases
  summary      hosts, controls, score (0-100, or null when nothing was assessable), counts
               {status: n}, compliant (score >= threshold and nothing changed), changed_nothing
  families     {family: {title, mlps, score, counts}}
  controls     [{id, title, family, mlps, cis}]  (the catalogue as it was)
  hosts        {host: {reachable, score, counts, changed_nothing, unclaimed_changes: [text],
                       controls: {id: {status, evidence: [text], checks: {ansible, testinfra, live?},
                                       waiver?: {owner, expires, ticket, reason, status}}}}}
  trend        [{id, started, score}]  (earlier reports beside this one, oldest first, and this one)

Statuses: pass, fail, error, waived, not_applicable, not_checked, unreachable. The score
counts pass and waived as compliant and fail, error and unreachable as not; the rest are
left out. An unreachable host is never compliant.

Layer: engine, beside pmops.controls, whose statuses and merge it uses: it scores and writes
the controls' results. It runs nothing.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from pmops.controls import COMPLIANT, NOT_COMPLIANT, STATUSES, merge

SCHEMA = "pmops-compliance/1"


def score(counts: Counter | dict) -> float | None:
    good = sum(counts.get(s, 0) for s in COMPLIANT)
    bad = sum(counts.get(s, 0) for s in NOT_COMPLIANT)
    return round(100.0 * good / (good + bad), 1) if good + bad else None


def build(run: dict, catalogue: dict, audit_hosts: dict, testinfra: dict, trend: list[dict]) -> dict:
    """The report: run facts, the catalogue, controls.evaluate()'s hosts, testinfra {host: {id: result}}."""
    controls = catalogue["controls"]
    families = catalogue["families"]
    hosts = {}
    for host, data in sorted(audit_hosts.items()):
        results = {c["id"]: merge(data["controls"].get(c["id"], {"status": "not_checked", "evidence": []}),
                                  (testinfra.get(host) or {}).get(c["id"]))
                   for c in controls}
        counts = Counter(r["status"] for r in results.values())
        reachable = counts.get("unreachable", 0) == 0
        hosts[host] = {
            "reachable": reachable,
            "score": score(counts),
            "counts": {s: counts.get(s, 0) for s in STATUSES},
            "changed_nothing": bool(data.get("etc_unchanged")) or not reachable,
            "unclaimed_changes": list(data.get("unclaimed_changes", [])),
            "controls": results,
        }
    total = Counter(r["status"] for h in hosts.values() for r in h["controls"].values())
    by_family = {}
    for family, meta in families.items():
        ids = {c["id"] for c in controls if c["family"] == family}
        if not ids:
            continue
        counts = Counter(r["status"] for h in hosts.values() for cid, r in h["controls"].items() if cid in ids)
        by_family[family] = {"title": meta["title"], "mlps": meta["mlps"], "score": score(counts),
                             "counts": {s: counts.get(s, 0) for s in STATUSES}}
    overall = score(total)
    changed_nothing = all(h["changed_nothing"] for h in hosts.values())
    threshold = float(run.get("threshold", 100))
    report = {
        "schema": SCHEMA,
        "run": run,
        "summary": {
            "hosts": len(hosts),
            "controls": len(controls),
            "score": overall,
            "counts": {s: total.get(s, 0) for s in STATUSES},
            "compliant": changed_nothing and (overall is None or overall >= threshold),
            "changed_nothing": changed_nothing,
        },
        "families": by_family,
        "controls": [{k: c.get(k) for k in ("id", "title", "family", "mlps", "cis")} for c in controls],
        "hosts": hosts,
    }
    report["trend"] = [t for t in trend if t.get("id") != run.get("id")] + [
        {"id": run.get("id"), "started": run.get("started"), "score": overall}]
    return report


def earlier(reports_dir: Path, keep: int = 30) -> list[dict]:
    """Scores of the earlier reports under reports_dir, oldest first (unreadable ones are skipped)."""
    points = []
    for path in sorted(reports_dir.glob("*/report.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("schema") == SCHEMA:
            points.append({"id": data["run"].get("id"), "started": data["run"].get("started"),
                           "score": data["summary"].get("score")})
    return points[-keep:]


# ------------------------------------------------------------------ JUnit
def junit(report: dict) -> str:
    """One test case per host and control: failure for fail, error for error and unreachable,
    skipped (with the reason) for waived, not applicable and not checked."""
    titles = {c["id"]: c["title"] for c in report["controls"]}
    suites = ET.Element("testsuites", name="pmops comply")
    totals = Counter()
    for host, data in report["hosts"].items():
        suite = ET.SubElement(suites, "testsuite", name=host)
        counts = Counter()
        for cid, result in data["controls"].items():
            case = ET.SubElement(suite, "testcase", classname=f"pmops.{host}", name=f"{cid} {titles.get(cid, '')}".strip(),
                                 time="0")
            text = "\n".join(str(e) for e in result["evidence"])
            status = result["status"]
            if status == "fail":
                ET.SubElement(case, "failure", message=_first(text, "would change"), type="drift").text = text
                counts["failures"] += 1
            elif status in ("error", "unreachable"):
                ET.SubElement(case, "error", message=_first(text, status), type=status).text = text
                counts["errors"] += 1
            elif status != "pass":
                ET.SubElement(case, "skipped", message=f"{status}: {_first(text, '')}".rstrip(": "))
                counts["skipped"] += 1
            counts["tests"] += 1
        for key in ("tests", "failures", "errors", "skipped"):
            suite.set(key, str(counts[key]))
        totals.update(counts)
    for key in ("tests", "failures", "errors", "skipped"):
        suites.set(key, str(totals[key]))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _first(text: str, default: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else default
    return line[:200]


# ------------------------------------------------------------------ HTML
COLOURS = {"pass": "#2e7d32", "waived": "#6a1b9a", "fail": "#c62828", "error": "#c62828",
           "unreachable": "#ef6c00", "not_applicable": "#757575", "not_checked": "#9e9e9e"}


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1f} %"


def trend_svg(points: list[dict], width: int = 640, height: int = 180) -> str:
    """A line chart of the overall score across runs (0-100 %), as inline SVG."""
    pad = 36
    usable = [p for p in points if p.get("score") is not None]
    parts = [f'<svg id="trend" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="score over the last {len(usable)} runs">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa" stroke="#ddd"/>']
    for level in (0, 50, 100):
        y = height - pad - (height - 2 * pad) * level / 100
        parts.append(f'<line x1="{pad}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e0e0e0"/>'
                     f'<text x="4" y="{y + 4:.1f}" font-size="11" fill="#555">{level}%</text>')
    if usable:
        step = (width - pad - 16) / max(len(usable) - 1, 1)
        coords = [(pad + i * step, height - pad - (height - 2 * pad) * p["score"] / 100) for i, p in enumerate(usable)]
        parts.append('<polyline fill="none" stroke="#1565c0" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
        for (x, y), p in zip(coords, usable):
            parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#1565c0">'
                         f'<title>{html.escape(str(p.get("started")))}: {p["score"]:.1f} %</title></circle>')
        first, last = usable[0], usable[-1]
        parts.append(f'<text x="{pad}" y="{height - 10}" font-size="11" fill="#555">'
                     f'{html.escape(str(first.get("started", ""))[:16])}</text>')
        parts.append(f'<text x="{width - 8}" y="{height - 10}" font-size="11" fill="#555" text-anchor="end">'
                     f'{html.escape(str(last.get("started", ""))[:16])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict) -> str:
    e = html.escape
    run, summary = report["run"], report["summary"]
    titles = {c["id"]: c for c in report["controls"]}
    verdict = "compliant" if summary["compliant"] else "NOT compliant"
    out = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>pmops comply {e(str(run.get('id')))}: {verdict}</title>",
        "<style>body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "th{background:#f0f0f0}.st{color:#fff;padding:1px 6px;border-radius:3px;font-size:90%}"
        "pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:85%}"
        ".big{font-size:2em;font-weight:bold}.bad{color:#c62828}.good{color:#2e7d32}</style>",
        "</head><body>",
        f"<h1>Compliance report {e(str(run.get('id')))}</h1>",
        f'<p class="big {"good" if summary["compliant"] else "bad"}"><span id="overall-score">{_pct(summary["score"])}'
        f'</span> &mdash; <span id="verdict">{verdict}</span></p>',
        f"<p>Inventory <code>{e(str(run.get('inventory')))}</code>"
        f"{(' limit <code>' + e(str(run['limit'])) + '</code>') if run.get('limit') else ''}, "
        f"git {e(str(run.get('git_commit') or 'unknown'))[:12]}{' (with uncommitted changes)' if run.get('git_dirty') else ''}, "
        f"by {e(str(run.get('user')))}, started {e(str(run.get('started')))}, {run.get('seconds', 0):.0f} s, "
        f"threshold {run.get('threshold', 100)} %. "
        f"{'Nothing on any host was changed.' if summary['changed_nothing'] else '<b class=bad>/etc was not proven unchanged on every host.</b>'}</p>",
        "<h2>Score over earlier runs</h2>", trend_svg(report.get("trend", [])),
        '<h2>Hosts</h2><table id="hosts"><tr><th>host</th><th>score</th>'
        + "".join(f"<th>{s.replace('_', ' ')}</th>" for s in STATUSES) + "</tr>",
    ]
    for host, data in report["hosts"].items():
        out.append(f'<tr data-host="{e(host)}"><td>{e(host)}</td><td class="score">{_pct(data["score"])}</td>'
                   + "".join(f"<td>{data['counts'][s]}</td>" for s in STATUSES) + "</tr>")
    out.append('</table><h2>Control families</h2><table id="families"><tr><th>family</th><th>GB/T 22239</th>'
               "<th>score</th><th>pass</th><th>waived</th><th>fail / error / unreachable</th></tr>")
    for family, data in report["families"].items():
        c = data["counts"]
        out.append(f'<tr data-family="{e(family)}"><td>{e(data["title"])}</td><td>{e(data["mlps"])}</td>'
                   f'<td class="score">{_pct(data["score"])}</td><td>{c["pass"]}</td><td>{c["waived"]}</td>'
                   f'<td>{c["fail"] + c["error"] + c["unreachable"]}</td></tr>')
    out.append("</table><h2>Drift and failures</h2>")
    drift = [(h, cid, r) for h, d in report["hosts"].items() for cid, r in d["controls"].items()
             if r["status"] in NOT_COMPLIANT]
    if not drift:
        out.append('<p id="no-drift">None: every assessed control holds.</p>')
    for host, cid, r in drift:
        out.append(f'<div class="drift" data-host="{e(host)}" data-control="{e(cid)}"><h3>{e(host)} '
                   f'{e(cid)} <span class="st" style="background:{COLOURS[r["status"]]}">{e(r["status"])}</span> '
                   f'{e(titles.get(cid, {}).get("title", ""))}</h3>'
                   + "".join(f"<pre>{e(str(item))}</pre>" for item in r["evidence"]) + "</div>")
    for host, data in report["hosts"].items():
        for change in data["unclaimed_changes"]:
            out.append(f'<div class="drift"><h3>{e(host)}: would also change (no control of its own)</h3>'
                       f"<pre>{e(change)}</pre></div>")
    # What a passing control's live check records beside its verdict (who is enrolled for two factors)
    noted = [(h, cid, r) for h, d in report["hosts"].items() for cid, r in d["controls"].items()
             if r["status"] == "pass" and r["evidence"] and "live" in r.get("checks", {})]
    if noted:
        out.append('<h2>Evidence of passing controls</h2><table id="evidence"><tr><th>host</th><th>control</th>'
                   "<th>evidence</th></tr>")
        for host, cid, r in noted:
            out.append(f"<tr><td>{e(host)}</td><td>{e(cid)}</td><td>{'<br>'.join(e(str(x)) for x in r['evidence'])}</td></tr>")
        out.append("</table>")
    out.append('<h2>Waived controls</h2><table id="waived"><tr><th>host</th><th>control</th><th>owner</th>'
               "<th>expires</th><th>ticket</th><th>reason</th></tr>")
    for host, data in report["hosts"].items():
        for cid, r in data["controls"].items():
            w = r.get("waiver")
            if r["status"] == "waived" and w:
                out.append(f"<tr><td>{e(host)}</td><td>{e(cid)}</td><td>{e(str(w.get('owner')))}</td>"
                           f"<td>{e(str(w.get('expires')))}</td><td>{e(str(w.get('ticket') or ''))}</td>"
                           f"<td>{e(str(w.get('reason') or ''))}</td></tr>")
    if not any(r["status"] == "waived" for d in report["hosts"].values() for r in d["controls"].values()):
        out.append('<tr><td colspan="6">None.</td></tr>')
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"


def write(report: dict, directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "report.json", "junit": directory / "junit.xml", "html": directory / "report.html"}
    paths["json"].write_text(json.dumps(report, indent=1, default=str) + "\n")
    paths["junit"].write_text(junit(report))
    paths["html"].write_text(render_html(report))
    return paths
