"""Check-mode results mapped to the control catalogue, joined with the checks of the state
in force (pmops.checks). The engine behind `pmops comply` (and `pmops audit`, which is
`pmops comply --check-mode --no-testinfra`).

The pmops_audit callback writes one JSON line per task result. evaluate() maps them to the
catalogue: a task enforces the controls named in its tags (or, for a loop item, in the
item's `control`), so a task that would change means its control is failing (with
--check-mode, when site.yml ran in check mode); the live-state play's results go to
pmops.checks, whose verdicts join the same results (with_live).

Status per host and control:
  pass            the control holds in force (and its tasks would change nothing)
  fail            the state in force differs from the policy, a task of the control would
                  change something (its diff is the evidence), or its exception has expired
  error           a task of the control failed
  waived          an exception in the register covers it (owner, expiry, reason)
  not_applicable  the host cannot hold it (a container), as the role says
  not_checked     nothing checked it on the host (switched off, or --tags)
  unreachable     the host could not be reached; never counted as compliant
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

import yaml

from pmops import checks
from pmops.paths import ROOT

CATALOGUE = ROOT / "controls" / "catalogue.yml"


def load_controls(path: Path = CATALOGUE) -> list[dict]:
    return yaml.safe_load(path.read_text())["controls"]


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
    events = list(events)
    by_host: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_host[event["host"]].append(event)
    live = checks.evaluate(events)
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
        in_force = live.get(host, {})
        for control in controls:
            cid = control["id"]
            items = [e for e in evs if "item" in e and "control" not in e and e["status"] == "changed"
                     and cid in e.get("tags", [])]
            results[cid] = with_live(_status(cid, [e for e in evs if _relevant(e, cid)], unreachable,
                                             notes["waivers"].get(cid), notes["not_applicable"].get(cid), items),
                                     in_force.get(cid))
        unclaimed = [_evidence(e) for e in evs if e["status"] == "changed" and not e.get("loop")
                     and not ({e.get("control")} | set(e.get("tags", []))) & ids]
        etc = [e for e in evs if e["task"].endswith("Compare the fingerprints of /etc")]
        report[host] = {
            "controls": results,
            "unclaimed_changes": unclaimed,
            "etc_unchanged": bool(etc) and all(e["status"] == "ok" for e in etc),
        }
    return report


def with_live(result: dict, live: dict | None) -> dict:
    """A control's check-mode result joined with its check of the state in force
    (pmops.checks): either one failing fails the control, and the evidence of both is kept.
    Unreachable, waived and error results stand as they are."""
    if live is None:
        return result
    result = dict(result, live=live["status"])
    if result["status"] in ("unreachable", "waived", "error"):
        return result
    if live["status"] == "fail":
        evidence = result["evidence"] if result["status"] == "fail" else []
        return dict(result, status="fail", evidence=evidence + [f"in force: {p}" for p in live["evidence"]])
    if live["status"] == "not_applicable" and result["status"] != "fail":
        return dict(result, status="not_applicable", evidence=live["evidence"])
    if result["status"] == "not_checked":
        return dict(result, status="pass", evidence=["checked in force only (no task of the control ran)"])
    return result


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

