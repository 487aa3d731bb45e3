"""Audit-only runs: site.yml in check mode, reported per host and control.

`pmops audit -i INVENTORY` runs playbooks/audit.yml with --check --diff and the pmops_audit
callback, which writes one JSON line per task result. evaluate() maps them to the control
catalogue: a task enforces the controls named in its tags (or, for a loop item, in the
item's `control`), so a task that would change means its control is failing.

Status per host and control:
  pass            the control's tasks ran and would change nothing
  fail            a task of the control would change something (its diff is the evidence),
                  or the control's exception has expired
  error           a task of the control failed
  waived          an exception in the register covers it (owner, expiry, reason)
  not_applicable  the host cannot hold it (a container), as the role reported
  not_checked     no task of the control ran on the host (switched off, or --tags)
  unreachable     the host could not be reached; never counted as compliant
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

import yaml

from pmops import PmopsError

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "controls" / "catalogue.yml"
STATUSES = ("pass", "fail", "error", "waived", "not_applicable", "not_checked", "unreachable")
FAILING = ("fail", "error", "unreachable")


def load_controls(path: Path = CATALOGUE) -> list[dict]:
    return yaml.safe_load(path.read_text())["controls"]


def read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _relevant(event: dict, control: str) -> bool:
    if "control" in event:
        return event["control"] == control
    if "item" in event:  # an item of a loop without control ids: the loop's own result counts
        return False
    return control in event.get("tags", [])


def _evidence(event: dict) -> str:
    text = event["task"]
    if event.get("item"):
        text += f" [{event['item']}]"
    detail = event.get("diff") or event.get("msg") or ""
    return f"{text}: {detail}".rstrip(": ") if detail else text


def evaluate(events: Iterable[dict], controls: list[dict], hosts: Iterable[str] = ()) -> dict:
    """Per host: {control id: {status, evidence, ...}}, plus the changes no control claims."""
    by_host: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_host[event["host"]].append(event)
    ids = {c["id"] for c in controls}
    report: dict[str, dict] = {}
    for host in sorted(set(by_host) | set(hosts)):
        evs = by_host.get(host, [])
        notes: dict = {"waivers": {}, "not_applicable": {}}
        for e in evs:
            for key, value in (e.get("note") or {}).items():
                if isinstance(value, dict):
                    notes.setdefault(key, {}).update(value)
        unreachable = not evs or any(e["status"] == "unreachable" for e in evs)
        results = {}
        for control in controls:
            cid = control["id"]
            items = [e for e in evs if "item" in e and "control" not in e and e["status"] == "changed"
                     and cid in e.get("tags", [])]
            results[cid] = _status(cid, [e for e in evs if _relevant(e, cid)], unreachable,
                                   notes["waivers"].get(cid), notes["not_applicable"].get(cid), items)
        unclaimed = [_evidence(e) for e in evs if e["status"] == "changed" and not e.get("loop")
                     and not ({e.get("control")} | set(e.get("tags", []))) & ids]
        etc = [e for e in evs if e["task"] == "Compare the fingerprints of /etc"]
        report[host] = {
            "controls": results,
            "unclaimed_changes": unclaimed,
            "etc_unchanged": bool(etc) and all(e["status"] == "ok" for e in etc),
        }
    return report


def _status(cid: str, evs: list[dict], unreachable: bool, waiver: dict | None, na: str | None,
            items: list[dict] = ()) -> dict:
    if unreachable:
        return {"status": "unreachable", "evidence": ["the host could not be reached"]}
    if waiver and waiver.get("status") == "waived":
        return {"status": "waived", "evidence": [f"waived until {waiver.get('expires')} by {waiver.get('owner')}"
                                                 f" ({waiver.get('ticket') or 'no ticket'}): {waiver.get('reason')}"],
                "waiver": waiver}
    failed = [e for e in evs if e["status"] == "failed"]
    changed = [e for e in evs if e["status"] == "changed"]
    ran = [e for e in evs if e["status"] in ("ok", "changed", "failed")]
    if failed:
        return {"status": "error", "evidence": [_evidence(e) for e in failed]}
    if changed or (waiver and waiver.get("status") == "expired"):
        # A loop's changed items say more than the loop's own "All items completed".
        evidence = [_evidence(e) for e in (items or changed)]
        if waiver:
            evidence.insert(0, f"exception expired on {waiver.get('expires')} (owner {waiver.get('owner')})")
        return {"status": "fail", "evidence": evidence}
    if na:
        return {"status": "not_applicable", "evidence": [na]}
    if not ran:
        return {"status": "not_checked", "evidence": ["no task of this control ran on the host"]}
    return {"status": "pass", "evidence": []}


def summary_lines(report: dict, controls: list[dict]) -> list[str]:
    titles = {c["id"]: c["title"] for c in controls}
    lines = [f"{'host':<14}" + "".join(f"{s:>15}" for s in STATUSES)]
    for host, data in report.items():
        counts = Counter(r["status"] for r in data["controls"].values())
        lines.append(f"{host:<14}" + "".join(f"{counts.get(s, 0):>15}" for s in STATUSES))
    for host, data in report.items():
        for cid, result in data["controls"].items():
            if result["status"] in FAILING or result["status"] == "waived":
                lines.append(f"{host}  {cid}  {result['status'].upper()}  {titles.get(cid, '')}")
                for item in result["evidence"]:
                    lines += ["    " + line for line in str(item).splitlines()[:12]]
        for change in data["unclaimed_changes"]:
            lines.append(f"{host}  also would change (no control of its own): {change.splitlines()[0]}")
        if not data["etc_unchanged"] and data["controls"] and \
                any(r["status"] != "unreachable" for r in data["controls"].values()):
            lines.append(f"{host}  /etc was NOT proven unchanged (see the run log)")
    return lines


def run(inventory: str, limit: str | None = None, json_out: str | None = None, verbose: bool = False) -> int:
    if not Path(inventory).exists():
        raise PmopsError(f"inventory {inventory} does not exist")
    controls = load_controls()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    logdir = ROOT / ".cache" / "audit"
    logdir.mkdir(parents=True, exist_ok=True)
    log = logdir / f"{stamp}.log"
    with tempfile.NamedTemporaryFile(prefix="pmops-audit-", suffix=".jsonl", delete=False) as tmp:
        events_path = Path(tmp.name)
    env = dict(os.environ, PMOPS_AUDIT_EVENTS=str(events_path), ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.timer,pmops_audit")
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, "playbooks/audit.yml",
            "--check", "--diff"]
    if limit:
        argv += ["--limit", limit]
    print(f"pmops: audit-only run (check mode) on {inventory}{' --limit ' + limit if limit else ''}; "
          f"log: {log.relative_to(ROOT)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=None if verbose else fh,
                              stderr=subprocess.STDOUT if not verbose else None)
    events = read_events(events_path)
    events_path.unlink(missing_ok=True)
    if not events:
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise PmopsError(f"the audit run produced no results (ansible-playbook exit {proc.returncode}):\n{tail}")
    hosts = _inventory_hosts(inventory, limit)
    report = evaluate(events, controls, hosts)
    for line in summary_lines(report, controls):
        print(line)
    out = Path(json_out) if json_out else logdir / f"{stamp}.json"
    out.write_text(json.dumps({"inventory": inventory, "limit": limit, "started": stamp,
                               "seconds": round(time.monotonic() - started, 1), "hosts": report}, indent=1))
    failing = sorted({h for h, d in report.items() for r in d["controls"].values() if r["status"] in FAILING}
                     | {h for h, d in report.items() if not d["etc_unchanged"]})
    print(f"pmops: report {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}; "
          f"{len(report)} hosts, {len(failing)} not compliant"
          f"{': ' + ', '.join(failing) if failing else ''} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 1 if failing else 0


def _inventory_hosts(inventory: str, limit: str | None) -> list[str]:
    argv = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", inventory, "--list"]
    if limit:
        argv += ["--limit", limit]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return []
    data = json.loads(proc.stdout)
    return sorted(data.get("_meta", {}).get("hostvars", {}) or _group_hosts(data, "pmops"))


def _group_hosts(data: dict, group: str) -> set[str]:
    hosts = set(data.get(group, {}).get("hosts", []))
    for child in data.get(group, {}).get("children", []):
        hosts |= _group_hosts(data, child)
    return hosts
