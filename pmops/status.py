"""pmops status: the system at a glance, for the duty engineer: which targets answer, which
alerts fire, today's business figures, how fresh the backups and restore drills are, and the
last compliance score. One terminal screen, or a self-contained HTML page (--html).

Prometheus is found from the environment (PMOPS_PROMETHEUS_URL, _CA, _USER, _PASSWORD_FILE)
or, for the lab inventory, from the lab itself (monitor-01, .lab/pki/ca.crt,
.lab/secrets/prometheus_password).

Layer: command (reads the lab's topology and the compliance reports; the HTTP client is
pmops.monitoring).
"""

from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pmops import PmopsError
from pmops.monitoring import MonitoringError, Prometheus
from pmops.paths import ROOT, state_dir

SHANGHAI = timezone(timedelta(hours=8))  # no daylight saving
ENV_HELP = ("set PMOPS_PROMETHEUS_URL (https://<monitor>:9090), PMOPS_PROMETHEUS_CA (its CA file) and "
            "PMOPS_PROMETHEUS_PASSWORD_FILE (the web password, from the vault)")


@dataclass
class Status:
    taken: float
    prometheus: str
    targets: list[dict] = field(default_factory=list)       # {job, host, up, error}
    alerts: list[dict] = field(default_factory=list)        # {alertname, severity, host, since, summary}
    business: dict[str, float | None] = field(default_factory=dict)
    freshness: list[dict] = field(default_factory=list)     # {host, backup_age, drill_age}
    compliance: dict | None = None                          # {score, compliant, started, hosts}
    problems: list[str] = field(default_factory=list)

    @property
    def down(self) -> list[dict]:
        return [t for t in self.targets if not t["up"]]

    @property
    def paging(self) -> list[dict]:
        # severity none reaches nobody: the Watchdog, and HostRecentlyDown (an inhibition's source)
        return [a for a in self.alerts if a["severity"] != "none" and a["alertname"] != "Watchdog"]


def connect(inventory: str) -> Prometheus:
    env = os.environ
    if env.get("PMOPS_PROMETHEUS_URL"):
        password_file = env.get("PMOPS_PROMETHEUS_PASSWORD_FILE")
        try:
            password = Path(password_file).read_text().strip() if password_file else ""
        except OSError as exc:
            raise PmopsError(f"pmops: PMOPS_PROMETHEUS_PASSWORD_FILE {password_file}: {exc.strerror}") from None
        return Prometheus(env["PMOPS_PROMETHEUS_URL"], ca=env.get("PMOPS_PROMETHEUS_CA"),
                          user=env.get("PMOPS_PROMETHEUS_USER", "pmops"), password=password)
    if Path(inventory).resolve() != (ROOT / "inventory" / "lab").resolve():
        raise PmopsError(f"pmops status: where is Prometheus for {inventory}? {ENV_HELP}")
    from pmops import lab
    monitor = next((h for h in lab.load_topology().hosts if "monitor" in h.groups), None)
    secret = lab.SECRETS_DIR / "prometheus_password"
    if monitor is None or not secret.exists():
        raise PmopsError("pmops status: the lab has no monitor host or no Prometheus password yet: "
                         "run `pmops lab up` and `make lab-converge`")
    return Prometheus(f"https://{monitor.ip}:9090", ca=str(lab.PKI_DIR / "ca.crt"),
                      user="pmops", password=secret.read_text().strip())


def _value(prom: Prometheus, expr: str) -> float | None:
    result = prom.query(expr)
    return float(result[0]["value"][1]) if result else None


def _by_host(prom: Prometheus, expr: str) -> dict[str, float]:
    return {r["metric"].get("host", "?"): float(r["value"][1]) for r in prom.query(expr)}


def since_midnight(now: float) -> int:
    """Seconds since midnight in Asia/Shanghai: the business day of the figures 'today'."""
    local = datetime.fromtimestamp(now, SHANGHAI)
    return max(60, int((local - local.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()))


def newest_compliance(reports: Path) -> dict | None:
    found = sorted(reports.glob("*/report.json"))
    if not found:
        return None
    data = json.loads(found[-1].read_text())
    summary = data.get("summary", {})
    return {"score": summary.get("score"), "compliant": summary.get("compliant"),
            "started": data.get("started") or found[-1].parent.name, "hosts": summary.get("hosts"),
            "report": str(found[-1].parent)}


def collect(prom: Prometheus, reports: Path | None = None, now: float | None = None) -> Status:
    now = now or time.time()
    status = Status(taken=now, prometheus=prom.url)
    try:
        for t in prom.targets():
            status.targets.append({"job": t["labels"].get("job"), "host": t["labels"].get("host", t["labels"].get("instance")),
                                   "up": t["health"] == "up", "error": t.get("lastError", "")})
        for a in prom.alerts():
            if a["state"] != "firing":
                continue
            status.alerts.append({"alertname": a["labels"].get("alertname"), "severity": a["labels"].get("severity", ""),
                                  "host": a["labels"].get("host", ""), "since": a.get("activeAt", ""),
                                  "summary": a.get("annotations", {}).get("summary", "")})
        day = since_midnight(now)
        queries = {
            "readings_last_minute": "sum(pmops_marketing_readings_last_minute)",
            "readings_today": f"sum(increase(portal_meter_readings_total[{day}s]))",
            "rejected_today": f"sum(increase(portal_meter_readings_rejected_total[{day}s]))",
            "bills_today": "sum(pmops_marketing_bills_issued_today)",
            "coverage": "min(pmops_marketing_reading_coverage_ratio)",
            "unbilled": "sum(pmops_marketing_unbilled_readings)",
            "newest_reading_age": "time() - max(pmops_marketing_newest_reading_timestamp_seconds)",
            "db_errors_today": f"sum(increase(portal_db_errors_total[{day}s]))",
            "accounts": "sum(pmops_marketing_accounts)",
        }
        status.business = {name: _value(prom, expr) for name, expr in queries.items()}
        backups = _by_host(prom, "time() - max by (host) (pmops_backup_last_success_timestamp_seconds)")
        enrolled = _by_host(prom, "max by (host) (pmops_backup_enrolled_timestamp_seconds)")
        drills = _by_host(prom, "time() - max by (host) (pmops_restore_drill_last_success_timestamp_seconds)")
        drill_hosts = _by_host(prom, "max by (host) (pmops_restore_drill_enrolled_timestamp_seconds)")
        for host in sorted(set(backups) | set(enrolled) | set(drills)):
            status.freshness.append({"host": host, "backup_age": backups.get(host),
                                     "drill_age": drills.get(host), "drilled": host in drills or host in drill_hosts})
    except MonitoringError as exc:
        status.problems.append(f"Prometheus: {exc}")
    status.compliance = newest_compliance(reports or state_dir() / "reports")
    return status


# ---------------------------------------------------------------- rendering
def age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d"


def number(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.1f} %" if percent else f"{value:,.0f}"


BUSINESS = [  # (key, label, how)
    ("readings_last_minute", "meter readings in the last minute", "number"),
    ("readings_today", "meter readings today (portal)", "number"),
    ("rejected_today", "readings rejected today", "number"),
    ("newest_reading_age", "newest reading", "age"),
    ("coverage", "reading coverage of this billing period", "percent"),
    ("bills_today", "bills issued today", "number"),
    ("unbilled", "unbilled readings of closed periods", "number"),
    ("db_errors_today", "database errors today (portal)", "number"),
    ("accounts", "customer accounts", "number"),
]


def _business_text(status: Status, key: str, how: str) -> str:
    value = status.business.get(key)
    if how == "age":
        return age(value) + (" ago" if value is not None else "")
    return number(value, percent=how == "percent")


def verdict(status: Status) -> str:
    if status.problems:
        return "UNKNOWN"
    if any(a["severity"] == "page" for a in status.paging) or status.down:
        return "ATTENTION"
    return "WARN" if status.paging else "OK"


def terminal(status: Status) -> str:
    taken = datetime.fromtimestamp(status.taken, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S %Z")
    up = len(status.targets) - len(status.down)
    lines = [f"pmops status: {verdict(status)}   ({taken}, {status.prometheus})", ""]
    lines += [f"problem: {p}" for p in status.problems]
    lines.append(f"Targets: {up} of {len(status.targets)} up")
    lines += [f"  DOWN {t['job']:<15} {t['host']:<12} {t['error'][:60]}" for t in status.down]
    lines.append(f"Alerts firing: {len(status.paging)} (and the Watchdog: "
                 f"{'yes' if any(a['alertname'] == 'Watchdog' for a in status.alerts) else 'NO - alerting is broken'})")
    lines += [f"  {a['severity']:<6} {a['alertname']:<24} {a['host']:<12} {a['summary'][:70]}" for a in status.paging]
    lines.append("Business today (Asia/Shanghai):")
    lines += [f"  {label:<42} {_business_text(status, key, how)}" for key, label, how in BUSINESS]
    lines.append("Backups and restore drills (age of the last success):")
    lines += [f"  {f['host']:<12} backup {age(f['backup_age']):<12}"
              + (f" restore drill {age(f['drill_age'])}" if f["drilled"] else "") for f in status.freshness]
    comp = status.compliance
    lines.append("Compliance: " + (f"{comp['score']} % ({'compliant' if comp['compliant'] else 'NOT compliant'}), "
                                   f"run {comp['started']}" if comp else "no report yet (pmops comply)"))
    return "\n".join(lines) + "\n"


CSS = """
body{font-family:DejaVu Sans,sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}
h2{font-size:1.1em;margin-top:1.4em;border-bottom:1px solid #ccc}table{border-collapse:collapse}
td,th{padding:.25em .8em;text-align:left;border-bottom:1px solid #eee}.down,.page{color:#b00;font-weight:bold}
.ticket{color:#a60}.OK{color:#080}.WARN{color:#a60}.ATTENTION,.UNKNOWN{color:#b00}.num{text-align:right}
"""


def page(status: Status) -> str:
    e = html.escape
    taken = datetime.fromtimestamp(status.taken, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S %Z")
    v = verdict(status)
    up = len(status.targets) - len(status.down)
    out = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>pmops status {e(taken)}</title>"
           f"<style>{CSS}</style></head><body>",
           f"<h1>Power Marketing Ops status: <span id=\"verdict\" class=\"{v}\">{v}</span></h1>",
           f"<p>{e(taken)} from {e(status.prometheus)}</p>"]
    out += [f"<p class=\"down\">{e(p)}</p>" for p in status.problems]
    out.append(f"<h2>Targets: <span id=\"targets-up\">{up}</span> of <span id=\"targets-total\">"
               f"{len(status.targets)}</span> up</h2><table><tr><th>job</th><th>host</th><th>state</th><th>error</th></tr>")
    for t in sorted(status.targets, key=lambda t: (t["up"], t["job"], t["host"])):
        state = "up" if t["up"] else "DOWN"
        out.append(f"<tr data-target=\"{e(t['job'])}/{e(t['host'])}\"><td>{e(t['job'])}</td><td>{e(t['host'])}</td>"
                   f"<td class=\"{'' if t['up'] else 'down'}\">{state}</td><td>{e(t['error'])}</td></tr>")
    out.append(f"</table><h2>Alerts firing: <span id=\"alerts-firing\">{len(status.paging)}</span></h2>"
               "<table><tr><th>severity</th><th>alert</th><th>host</th><th>since</th><th>summary</th></tr>")
    for a in status.alerts:
        out.append(f"<tr data-alert=\"{e(a['alertname'])}\"><td class=\"{e(a['severity'])}\">{e(a['severity'])}</td>"
                   f"<td><a href=\"{e(str(ROOT / 'docs' / 'runbooks' / (a['alertname'] + '.md')))}\">{e(a['alertname'])}</a></td>"
                   f"<td>{e(a['host'])}</td><td>{e(a['since'][:19])}</td><td>{e(a['summary'])}</td></tr>")
    out.append("</table><h2>Business today (Asia/Shanghai)</h2><table>")
    for key, label, how in BUSINESS:
        out.append(f"<tr><td>{e(label)}</td><td class=\"num\" id=\"business-{key}\">{e(_business_text(status, key, how))}</td></tr>")
    out.append("</table><h2>Backups and restore drills</h2><table><tr><th>host</th><th>last backup</th>"
               "<th>last restore drill</th></tr>")
    for f in status.freshness:
        stale = f["backup_age"] is None or f["backup_age"] > 26 * 3600
        out.append(f"<tr data-host=\"{e(f['host'])}\"><td>{e(f['host'])}</td><td class=\"{'down' if stale else ''}\">"
                   f"{e(age(f['backup_age']))}</td><td>{e(age(f['drill_age'])) if f['drilled'] else '-'}</td></tr>")
    out.append("</table><h2>Compliance</h2>")
    comp = status.compliance
    if comp:
        out.append(f"<p>Last score <span id=\"compliance-score\">{e(str(comp['score']))} %</span> "
                   f"({'compliant' if comp['compliant'] else 'NOT compliant'}), run {e(str(comp['started']))}, "
                   f"report {e(comp['report'])}</p>")
    else:
        out.append("<p id=\"compliance-score\">no report yet (pmops comply)</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def run(inventory: str, html_file: str | None = None, as_json: bool = False) -> int:
    status = collect(connect(inventory))
    if html_file:
        Path(html_file).write_text(page(status))
    if as_json:
        print(json.dumps(status.__dict__, indent=1, default=str))
    else:
        print(terminal(status), end="")
        if html_file:
            print(f"HTML: {html_file}")
    return 0 if verdict(status) in ("OK", "WARN") else 1


# ---------------------------------------------------------------- the dead man's switch, from outside
WATCH = [  # (what, PromQL whose first sample must be above zero, what it means when not)
    ("the Watchdog fires", 'count(ALERTS{alertname="Watchdog", alertstate="firing"})',
     "Prometheus evaluates no rules: no alert can fire"),
    ("Prometheus has an Alertmanager", "max(prometheus_notifications_alertmanagers_discovered)",
     "Prometheus knows no Alertmanager: alerts go nowhere"),
    ("Alertmanager answers", 'min(up{job="alertmanager"})',
     "Alertmanager does not answer: alerts go nowhere"),
    ("Prometheus delivers its alerts",
     "(sum(increase(prometheus_notifications_errors_total[5m])) or vector(0)) == bool 0",
     "Prometheus failed to hand alerts to Alertmanager in the last 5 minutes"),
    ("Alertmanager delivers its notifications",
     "(sum(increase(alertmanager_notifications_failed_total[5m])) or vector(0)) == bool 0",
     "Alertmanager failed to notify a receiver (email, WeChat, webhook) in the last 5 minutes"),
]


def watchdog(prom: Prometheus) -> list[str]:
    """What is broken in the path from a rule to a person, as the control node sees it; [] when
    nothing. A Prometheus that does not answer is the first and only finding."""
    try:
        prom.query("vector(1)")
    except MonitoringError as exc:
        return [f"Prometheus does not answer: {exc}"]
    problems = []
    for what, expr, broken in WATCH:
        try:
            result = prom.query(expr)
        except MonitoringError as exc:
            problems.append(f"{what}: cannot tell ({exc})")
            continue
        if not result or float(result[0]["value"][1]) <= 0:
            problems.append(broken)
    return problems


def run_watchdog(inventory: str) -> int:
    try:
        prom = connect(inventory)
    except PmopsError as exc:  # the watch itself cannot ask: that is a broken path too
        print(f"pmops watchdog: ALERTING IS BROKEN: {exc}")
        return 1
    problems = watchdog(prom)
    for problem in problems:
        print(f"pmops watchdog: ALERTING IS BROKEN: {problem} ({prom.url})")
    if not problems:
        print(f"pmops watchdog: ok, the Watchdog fires and reaches Alertmanager, which notifies ({prom.url})")
    return 1 if problems else 0
