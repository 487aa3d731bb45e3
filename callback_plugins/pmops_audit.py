# Records what an audit-only run (`pmops audit`: site.yml in check mode) found, one JSON
# line per host and task (or loop item), for pmops/controls.py to turn into a per-control
# report. Enabled only by pmops (ANSIBLE_CALLBACKS_ENABLED) with PMOPS_AUDIT_EVENTS set.
from __future__ import annotations

DOCUMENTATION = r"""
name: pmops_audit
type: aggregate
short_description: Write per-host task results with their tags and diffs as JSON lines
description:
  - For C(pmops audit). Each task result (or loop item) is written to the file named by
    the environment variable E(PMOPS_AUDIT_EVENTS) with the host, the task's tags, its status
    (ok, changed, failed, skipped, unreachable), the control id of a loop item when the item
    carries one, a short diff and, for tasks tagged C(pmops_note), the message; the facts a
    role's C(wanted) entry point sets (C(<role>_wanted)) and, for tasks tagged C(pmops_live),
    the live state the pmops_live_state module read.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""

import difflib
import json
import os

from ansible.plugins.callback import CallbackBase

MAX_DIFF_LINES = 40


def diff_text(diff) -> str:
    """A short unified diff from a module's diff (a dict or a list of dicts)."""
    parts = diff if isinstance(diff, list) else [diff]
    lines: list[str] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        before, after = part.get("before", ""), part.get("after", "")
        if isinstance(before, dict) or isinstance(after, dict):
            before = json.dumps(before, sort_keys=True, indent=1)
            after = json.dumps(after, sort_keys=True, indent=1)
        if not isinstance(before, str) or not isinstance(after, str) or before == after:
            continue
        lines += list(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                           str(part.get("before_header", "before")),
                                           str(part.get("after_header", "after")), lineterm="", n=1))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... ({len(lines) - MAX_DIFF_LINES} more lines)"]
    return "\n".join(lines)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pmops_audit"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        path = os.environ.get("PMOPS_AUDIT_EVENTS")
        self._out = open(path, "a", encoding="utf-8") if path else None

    def _write(self, result, status: str, item: bool = False) -> None:
        if self._out is None:
            return
        task = result._task
        res = result._result or {}
        tags = sorted(str(t) for t in (task.tags or []))
        event = {
            "host": result._host.get_name(),
            "task": task.get_name(),
            "tags": tags,
            "status": status,
            "loop": bool(task.loop) and not item,
        }
        if item:
            value = res.get("item")
            if isinstance(value, dict) and value.get("control"):
                event["control"] = str(value["control"])
            event["item"] = res.get("_ansible_item_label", value) if not isinstance(value, dict) else value.get("key", "")
            if "msg" in res:
                event["msg"] = str(res["msg"])[:500]
        if status in ("changed", "failed", "unreachable") and not item:
            event["msg"] = str(res.get("msg", ""))[:500]
        if res.get("diff"):
            text = diff_text(res["diff"])
            if text:
                event["diff"] = text
        if "pmops_note" in tags and isinstance(res.get("msg"), dict):
            event["note"] = res["msg"]
        # pmops comply's live-state play: what the roles publish (their `wanted` entry
        # points set <role>_wanted) and what the pmops_live_state module read
        wanted = {k: v for k, v in (res.get("ansible_facts") or {}).items() if k.endswith("_wanted")}
        if wanted and not item:
            event["wanted"] = wanted
        if "pmops_live" in tags and isinstance(res.get("state"), dict):
            event["live"] = res["state"]
        self._out.write(json.dumps(event, default=str) + "\n")
        self._out.flush()

    def v2_runner_on_ok(self, result):
        self._write(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._write(result, "unreachable")

    def v2_runner_item_on_ok(self, result):
        self._write(result, "changed" if result._result.get("changed") else "ok", item=True)

    def v2_runner_item_on_failed(self, result):
        self._write(result, "failed", item=True)

    def v2_playbook_on_stats(self, stats):
        if self._out is not None:
            self._out.close()
            self._out = None
