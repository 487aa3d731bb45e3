"""Plans: what a converge would change, per host and task, from a check + diff run.

summarise() turns the task results the pmops_audit callback records (one JSON line per
task or loop item) into plan.json, schema "pmops-plan/1":

  schema       "pmops-plan/1"
  run          started, seconds, inventory, limit, tags, git_commit, git_dirty, user
  changes      {host: [{task, item?, diff?}]}   (tasks that would change, in run order)
  failed       {host: [{task, msg}]}            (tasks that failed even in check mode)
  unreachable  [host]
  hosts        every host the run covered
  no_changes   true only when every host was reached, nothing failed and nothing would change

markdown() renders it for a merge request: a table of hosts, then each host's tasks with
their diffs folded.

Layer: library (pure: the events come from pmops.runner, through `pmops plan`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

SCHEMA = "pmops-plan/1"


def summarise(events: Iterable[dict], hosts: Iterable[str], run: dict) -> dict:
    events = list(events)
    changes: dict[str, list[dict]] = defaultdict(list)
    failed: dict[str, list[dict]] = defaultdict(list)
    unreachable = set()
    with_items = {(e["host"], e["task"]) for e in events if "item" in e and e["status"] == "changed"}
    for e in events:
        host, status = e["host"], e["status"]
        if status == "unreachable":
            unreachable.add(host)
        elif status == "failed" and not e.get("loop"):
            failed[host].append({"task": e["task"], "msg": e.get("msg", "")})
        elif status == "changed":
            if e.get("loop") and (host, e["task"]) in with_items:
                continue  # its items say what changes
            entry = {"task": e["task"]}
            if "item" in e:
                entry["item"] = str(e["item"])
            if e.get("diff"):
                entry["diff"] = e["diff"]
            changes[host].append(entry)
    every = sorted(set(hosts) | {e["host"] for e in events})
    return {
        "schema": SCHEMA,
        "run": run,
        "hosts": every,
        "changes": {h: changes[h] for h in every if changes.get(h)},
        "failed": {h: failed[h] for h in every if failed.get(h)},
        "unreachable": sorted(unreachable),
        "no_changes": not changes and not failed and not unreachable and bool(every),
    }


def markdown(plan: dict) -> str:
    run = plan["run"]
    commit = (run.get("git_commit") or "unknown")[:12] + (" (with uncommitted changes)" if run.get("git_dirty") else "")
    where = f"`{run.get('inventory')}`" + (f", limit `{run['limit']}`" if run.get("limit") else "") + \
        (f", tags `{','.join(run['tags'])}`" if run.get("tags") else "")
    tasks = sum(len(v) for v in plan["changes"].values())
    lines = [f"## pmops plan: {where} at {commit}", ""]
    if plan["no_changes"]:
        lines += [f"**No changes.** All {len(plan['hosts'])} hosts were reached and nothing would change.", ""]
        return "\n".join(lines)
    lines += [f"**{tasks} task{'s' if tasks != 1 else ''} would change on {len(plan['changes'])} of "
              f"{len(plan['hosts'])} hosts.**"
              + (f" {len(plan['unreachable'])} unreachable: {', '.join(plan['unreachable'])} (not planned)."
                 if plan["unreachable"] else "")
              + (f" Failed in check mode on: {', '.join(plan['failed'])}." if plan["failed"] else ""), "",
              "| host | would change | failed |", "|---|---|---|"]
    for host in plan["hosts"]:
        if host in plan["unreachable"]:
            lines.append(f"| {host} | unreachable | |")
        else:
            lines.append(f"| {host} | {len(plan['changes'].get(host, []))} | {len(plan['failed'].get(host, []))} |")
    for host in plan["hosts"]:
        entries = plan["changes"].get(host, [])
        fails = plan["failed"].get(host, [])
        if not entries and not fails:
            continue
        lines += ["", f"### {host}", ""]
        for entry in entries:
            name = entry["task"] + (f" [{entry['item']}]" if entry.get("item") else "")
            lines.append(f"- {_md(name)}")
            if entry.get("diff"):
                lines += ["  <details><summary>diff</summary>", "", "  ```diff"]
                lines += ["  " + line for line in entry["diff"].splitlines()]
                lines += ["  ```", "  </details>"]
        for entry in fails:
            lines.append(f"- **failed:** {_md(entry['task'])}: {_md(entry['msg'][:300])}")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
