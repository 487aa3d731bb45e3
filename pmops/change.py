"""`pmops plan` and `pmops apply`: what a converge would change, and the converge itself
with its audit record.

plan  runs site.yml in check + diff mode and writes plan.json (pmops.plan's schema) and
      plan.md (for a merge request) to --out (default <state>/plans/<UTC time>/); prints the
      Markdown. Exit 0 when it ran (with --detailed-exitcode: 0 no changes, 2 changes), 1 when
      a host was unreachable or a task failed even in check mode.
apply runs site.yml, then reads the state in force as `pmops comply` does (comply.yml,
      pmops.checks) and names every drift the converge could not put right, with the
      catalogue's reason (`heal`); it appends who, when, the git commit, inventory, limit,
      tags, each host's changed tasks, what is still not as the policy says, and the result to
      the run log (<state>/runlog/apply.jsonl), which `pmops history` lists. Exit: Ansible's,
      or 1 when the converge passed but drift remains.

Layer: command. Playbooks run through pmops.runner, controls are judged by
pmops.controls; this module adds the run log record and what the operator reads.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from pmops import PmopsError, controls, plan, runlog, runner
from pmops.paths import ROOT, state_dir


def _facts(shown: str, limit: str | None, tags: list[str] | None) -> dict:
    commit, dirty = runlog.git_state(ROOT)
    return {"started": runlog.now(), "inventory": shown, "limit": limit, "tags": tags or [], "git_commit": commit,
            "git_dirty": dirty, "who": runlog.who()}


def run_plan(inventory: str, limit: str | None = None, tags: list[str] | None = None, out: str | None = None,
             detailed: bool = False, verbose: bool = False) -> int:
    inv = runner.resolve_inventory(inventory)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    outdir = Path(out) if out else state_dir() / "plans" / stamp
    outdir.mkdir(parents=True, exist_ok=True)
    facts = _facts(inv.shown, limit, tags)
    print(f"pmops: planning site.yml on {inv.shown}{' --limit ' + limit if limit else ''} (check mode, nothing changes)",
          file=sys.stderr, flush=True)
    result = runner.run_playbook("playbooks/site.yml", inv, check=True, label="plan", limit=limit, tags=tags,
                                 verbose=verbose, log_path=outdir / "ansible.log")
    if not result.events:
        raise PmopsError(f"the check-mode run produced no results (ansible exit {result.rc}); "
                         f"see {outdir / 'ansible.log'}:\n{result.log[-1500:]}")
    facts["seconds"] = result.seconds
    summary = plan.summarise(result.events, inv.hosts(limit), facts)
    text = plan.markdown(summary)
    (outdir / "plan.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    (outdir / "plan.md").write_text(text)
    print(text)
    print(f"pmops: plan in {outdir} ({result.seconds:.0f} s)", file=sys.stderr)
    if summary["unreachable"] or summary["failed"]:
        return 1
    return 2 if detailed and not summary["no_changes"] else 0


def changed_tasks(events: list[dict]) -> dict[str, list[str]]:
    changed: dict[str, list[str]] = defaultdict(list)
    with_items = {(e["host"], e["task"]) for e in events if "item" in e and e["status"] == "changed"}
    for e in events:
        if e["status"] != "changed" or (e.get("loop") and (e["host"], e["task"]) in with_items):
            continue
        changed[e["host"]].append(e["task"] + (f" [{e['item']}]" if "item" in e else ""))
    return dict(changed)


def run_recorded(command: str, playbook: str, inventory: str | runner.Inventory, limit: str | None = None,
                 tags: list[str] | None = None, extravars: dict | None = None, verbose: bool = False,
                 outcome=None, redact=None) -> tuple[int, dict]:
    """Run a playbook and append its record to the run log: who, when, the git commit, inventory,
    limit, tags, the request (extravars), each host's changed tasks and the result. `outcome`
    (events, started) -> dict adds what the command itself knows (a deploy's report, a patch run's
    reports); a "result" in it overrides the generic one (a failed deploy: "failed, rolled back").
    redact (text -> text) cleans Ansible's output before it is kept beside the run log."""
    inv = runner.resolve_inventory(inventory)
    facts = _facts(inv.shown, limit, tags)
    log = runlog.path(state_dir())
    print(f"pmops: {command}: {playbook} on {inv.shown}{' --limit ' + limit if limit else ''}; run log {log}",
          file=sys.stderr, flush=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    started = time.time()
    try:
        result = runner.run_playbook(playbook, inv, check=False, label=command, limit=limit, tags=tags,
                                     extravars=extravars, verbose=verbose,
                                     log_path=log.parent / f"{stamp}-{command}.log", redact=redact)
    except KeyboardInterrupt:
        # An interrupted change is still a change: it is recorded before pmops stops.
        runlog.append(log, dict(facts, command=command, playbook=playbook, request=extravars or {},
                                finished=runlog.now(), rc=130, result="interrupted", changed={}, failed_hosts=[]))
        raise
    stats = result.stats or {}
    record = dict(facts, command=command, playbook=playbook, request=extravars or {}, finished=runlog.now(),
                  seconds=result.seconds, rc=result.rc, result="ok" if result.rc == 0 else "failed",
                  changed=changed_tasks(result.events),
                  failed_hosts=sorted(set(stats.get("failures", {})) | set(stats.get("dark", {}))),
                  ansible_log=f"runlog/{stamp}-{command}.log")
    if outcome:
        record.update(outcome(result, started))
    saved = runlog.append(log, record)
    total = sum(len(v) for v in record["changed"].values())
    print(f"pmops: {command} {record['result']}: {total} changed tasks on {len(record['changed'])} hosts"
          f"{'; failed on ' + ', '.join(record['failed_hosts']) if record['failed_hosts'] else ''}; "
          f"run log record {saved['seq']} ({result.seconds:.0f} s)", file=sys.stderr)
    if result.rc != 0 and not verbose:
        for line in failure_messages(result.events):
            print(f"pmops: {line}", file=sys.stderr)
    return result.rc, saved


def failure_messages(events: list[dict]) -> list[str]:
    """Each failed task's host, name and message (what an operator reads first)."""
    return [f"{e['host']}: {e['task']}: {str(e.get('msg') or '').strip()[:600]}"
            for e in events if e.get("status") in ("failed", "unreachable")]


def run_apply(inventory: str, limit: str | None = None, tags: list[str] | None = None, verbose: bool = False,
              playbook: str = "playbooks/site.yml") -> int:
    inv = runner.resolve_inventory(inventory)
    remaining: dict = {}

    def still_drifting(result, _started) -> dict:
        # what the converge could not put right: the state in force, read as comply reads it
        if result.rc != 0 or playbook != "playbooks/site.yml" or tags:
            return {}
        remaining.update(unhealed(inv, limit, verbose))
        return {"unhealed": remaining, "result": "drift remains"} if remaining else {"unhealed": {}}

    rc, _record = run_recorded("apply", playbook, inv, limit, tags, verbose=verbose, outcome=still_drifting)
    if remaining:
        reasons = {c["id"]: c.get("heal", "") for c in controls.load_controls()}
        print("pmops: apply could not put these right; they need a person:", file=sys.stderr)
        for host, drift in sorted(remaining.items()):
            for cid, evidence in sorted(drift.items()):
                print(f"  {host}  {cid}  {reasons.get(cid) or 'the converge left it as it was'}", file=sys.stderr)
                for line in evidence[:8]:
                    print(f"      {line}", file=sys.stderr)
        return 1
    return rc


def unhealed(inventory: str | runner.Inventory, limit: str | None,
             verbose: bool = False) -> dict[str, dict[str, list[str]]]:
    """{host: {control id: evidence}} of the controls that still fail in force (waivers honoured)."""
    inv = runner.resolve_inventory(inventory)
    after = runner.run_playbook("playbooks/comply.yml", inv, check=True, label="apply (checking what is in force)",
                                limit=limit, verbose=verbose)
    hosts = inv.hosts(limit)
    return controls.failing(controls.evaluate(after.events, controls.load_controls(), hosts), hosts)


def run_history(last: int | None = None, verbose: bool = False, as_json: bool = False, verify: bool = False) -> int:
    log = runlog.path(state_dir())
    records = runlog.read(log)
    if verify:
        problems = runlog.verify(log)
        for problem in problems:
            print(f"pmops: run log {log}: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"pmops: run log {log}: {len(records)} records, chain intact", file=sys.stderr)
    if as_json:
        print(json.dumps(records[-last:] if last else records, indent=1))
        return 0
    if not records:
        print(f"pmops: no run recorded yet ({log})", file=sys.stderr)
        return 0
    for line in runlog.history_lines(records, last, verbose):
        print(line)
    return 0
