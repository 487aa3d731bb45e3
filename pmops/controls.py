"""What pmops knows of the controls: the catalogue (controls/catalogue.yml, with each control's
testinfra test), the evaluation of each host's task results into one status per control
(waivers and not-applicable notes honoured, joined with the checks of the state in force,
pmops.checks), and the join of those statuses with testinfra's outcomes (merge). The engine
behind `pmops comply` (and `pmops audit`, which is `pmops comply --check-mode
--no-testinfra`) and behind what `pmops apply` reports it could not put right (failing).

Layer: engine. It runs nothing and knows nothing of Ansible runs (pmops.runner): a command
hands it the events a run recorded. The live checks are pmops.checks, a library it calls.

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
STATUSES = ("pass", "fail", "error", "waived", "not_applicable", "not_checked", "unreachable")
COMPLIANT = ("pass", "waived")
NOT_COMPLIANT = ("fail", "error", "unreachable")


# ------------------------------------------------------------------ the catalogue
def load_catalogue(path: Path = CATALOGUE) -> dict:
    return yaml.safe_load(path.read_text())


def load_controls(path: Path = CATALOGUE) -> list[dict]:
    return load_catalogue(path)["controls"]


def control_tests(controls: list[dict]) -> dict[str, tuple[str, str]]:
    """{control id: (file::function, param)} from the catalogue's `test` fields."""
    tests = {}
    for control in controls:
        node, _, param = control["test"].partition("[")
        tests[control["id"]] = (node, param.rstrip("]"))
    return tests


def testinfra_controls(controls: list[dict]) -> list[dict]:
    """The controls whose testinfra test comply runs: those pmops.checks does not decide alone."""
    live = checks.controls_checked()
    return [c for c in controls if c["id"] not in live]


# ------------------------------------------------------------------ a host's task results
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
    notes = live["evidence"] if live["status"] == "pass" else []  # what a passing check records (checks.NOTE)
    if result["status"] == "not_checked":
        return dict(result, status="pass", evidence=["checked in force only (no task of the control ran)"] + notes)
    return dict(result, evidence=result["evidence"] + notes) if notes else result


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


def failing(evaluated: dict, hosts: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """{host: {control id: evidence}} of the controls that fail on the hosts named, from evaluate()'s report."""
    return {host: {cid: r["evidence"] for cid, r in data["controls"].items() if r["status"] == "fail"}
            for host, data in evaluated.items() if host in hosts
            and any(r["status"] == "fail" for r in data["controls"].values())}


# ------------------------------------------------------------------ testinfra's results
def map_results(records: list[dict], controls: list[dict]) -> dict[str, dict]:
    """{host: {control id: {outcome, detail, test}}} from the plugin's records.

    A control's test may run once per host or once per host and parameter; the control is
    failed when any matching run failed, passed when one passed, skipped when all skipped.
    """
    wanted = control_tests(controls)
    by_host: dict[str, dict] = defaultdict(dict)
    for cid, (node, param) in wanted.items():
        for host in {r["host"] for r in records}:
            runs = [r for r in records if r["host"] == host and r["test"] == node and (not param or r["param"] == param)]
            if not runs:
                continue
            failed = [r for r in runs if r["outcome"] == "failed"]
            passed = [r for r in runs if r["outcome"] == "passed"]
            chosen = failed[0] if failed else (passed[0] if passed else runs[0])
            by_host[host][cid] = {"outcome": chosen["outcome"], "detail": chosen.get("detail", ""),
                                  "test": node.rsplit("/", 1)[-1] + (f"[{param}]" if param else "")}
    return dict(by_host)


def merge(ansible: dict, testinfra: dict | None) -> dict:
    """One host's control: the check-mode result (evaluate) with its testinfra result.

    testinfra is {"outcome": passed|failed|skipped, "detail": text, "test": node id} or None.
    """
    status = ansible["status"]
    evidence = list(ansible.get("evidence", []))
    outcome = (testinfra or {}).get("outcome")
    by_check = {"ansible": status, "testinfra": outcome or "not_run"}
    if "live" in ansible:  # the check of the state in force (pmops.checks), already in status
        by_check["live"] = ansible["live"]
    result = {"status": status, "evidence": evidence, "checks": by_check}
    if "waiver" in ansible:
        result["waiver"] = ansible["waiver"]
    if status in ("unreachable", "waived", "error"):
        return result
    if outcome == "failed":
        result["status"] = "fail"
        result["evidence"] = evidence + [f"testinfra {testinfra.get('test', '')}: {testinfra.get('detail', '')}".strip()]
    elif status == "not_checked" and outcome == "passed":
        result["status"] = "pass"
        result["evidence"] = ["checked by testinfra only (no task of the control ran on the host)"]
    elif status == "not_checked" and outcome == "skipped":
        result["status"] = "not_applicable"
        result["evidence"] = [testinfra.get("detail") or "the test does not apply to this host"]
    return result
