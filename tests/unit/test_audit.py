"""pmops audit: task results mapped to controls by pmops.controls (pure functions, no hosts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pmops import controls

ROOT = Path(__file__).resolve().parents[2]
CONTROLS = [{"id": "SSH-01", "title": "root"}, {"id": "HARD-05", "title": "sudo"},
            {"id": "HARD-09", "title": "files"}, {"id": "HARD-13", "title": "auditd"}]


def ev(status, task="t", tags=(), **extra):
    return {"host": "h1", "task": task, "tags": list(tags), "status": status, "loop": False, **extra}


def statuses(events, hosts=("h1",)):
    report = controls.evaluate(events, CONTROLS, hosts)
    return {cid: r["status"] for cid, r in report["h1"]["controls"].items()}


def test_ok_tasks_pass_and_missing_ones_are_not_checked():
    got = statuses([ev("ok", tags=["HARD-05", "hardening_sudo"]), ev("ok", tags=["HARD-09"])])
    assert got == {"SSH-01": "not_checked", "HARD-05": "pass", "HARD-09": "pass", "HARD-13": "not_checked"}


def test_a_would_be_change_fails_its_control_only_with_the_diff_as_evidence():
    report = controls.evaluate([ev("changed", task="Write sudo", tags=["HARD-05"], diff="+Defaults use_pty"),
                             ev("ok", tags=["HARD-09"])], CONTROLS, ["h1"])
    sudo = report["h1"]["controls"]["HARD-05"]
    assert sudo["status"] == "fail" and "+Defaults use_pty" in sudo["evidence"][0]
    assert report["h1"]["controls"]["HARD-09"]["status"] == "pass"


def test_loop_items_with_a_control_id_are_attributed_item_by_item():
    events = [ev("ok", task="sshd -T", tags=["ssh_config"], control="SSH-01", item="permitrootlogin"),
              ev("changed", task="sshd -T", tags=["ssh_config"], loop=True)]
    assert statuses(events)["SSH-01"] == "pass"
    events[0]["status"] = "changed"
    assert statuses(events)["SSH-01"] == "fail"


def test_changed_items_of_a_plain_loop_become_the_evidence():
    events = [ev("changed", task="modes", tags=["HARD-09"], loop=True, msg="All items completed"),
              ev("changed", task="modes", tags=["HARD-09"], item="/etc/shadow", diff="-0644 +0640")]
    result = controls.evaluate(events, CONTROLS, ["h1"])["h1"]["controls"]["HARD-09"]
    assert result["status"] == "fail" and result["evidence"] == ["modes [/etc/shadow]: -0644 +0640"]


@pytest.mark.parametrize(("waiver", "want"), [
    ({"status": "waived", "expires": "2099-01-01", "owner": "o", "reason": "r"}, "waived"),
    ({"status": "expired", "expires": "2020-01-01", "owner": "o", "reason": "r"}, "fail"),
])
def test_the_exceptions_register_is_honoured(waiver, want):
    events = [ev("ok", tags=["pmops_note"], note={"waivers": {"HARD-05": waiver}}), ev("ok", tags=["HARD-05"])]
    assert statuses(events)["HARD-05"] == want


def test_not_applicable_controls_and_failures():
    events = [ev("ok", tags=["HARD-13"]), ev("ok", tags=["pmops_note"], note={"not_applicable": {"HARD-13": "kernel"}}),
              ev("failed", tags=["HARD-05"], msg="boom")]
    got = statuses(events)
    assert got["HARD-13"] == "not_applicable" and got["HARD-05"] == "error"


def test_an_unreachable_or_silent_host_is_never_compliant():
    report = controls.evaluate([ev("unreachable", tags=["always"])], CONTROLS, ["h1", "h2"])
    assert {r["status"] for r in report["h1"]["controls"].values()} == {"unreachable"}
    assert {r["status"] for r in report["h2"]["controls"].values()} == {"unreachable"}


def test_changes_no_control_claims_are_listed():
    report = controls.evaluate([ev("changed", task="Compare sshd_config", tags=["ssh_config"])], CONTROLS, ["h1"])
    assert report["h1"]["unclaimed_changes"] == ["Compare sshd_config"]


def test_every_catalogue_control_is_a_task_tag_or_an_item_control():
    texts = "\n".join(p.read_text() for p in (ROOT / "roles").glob("*/tasks/*.yml"))
    texts += "\n".join(p.read_text() for p in (ROOT / "roles").glob("*/vars/*.yml"))
    missing = [c["id"] for c in controls.load_controls() if c["id"] not in texts]
    assert missing == []


def _callback():
    spec = importlib.util.spec_from_file_location("pmops_audit_cb", ROOT / "callback_plugins" / "pmops_audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_callback_diff_text_is_a_short_unified_diff():
    cb = _callback()
    text = cb.diff_text({"before": "a\nb\n", "after": "a\nc\n", "before_header": "/etc/x", "after_header": "new"})
    assert "-b" in text and "+c" in text and "/etc/x" in text
    assert cb.diff_text({"before": {"mode": "0644"}, "after": {"mode": "0640"}}).count("mode") == 2
    long = cb.diff_text({"before": "", "after": "\n".join(str(i) for i in range(100))})
    assert long.splitlines()[-1].startswith("... (") and len(long.splitlines()) == cb.MAX_DIFF_LINES + 1
    assert cb.diff_text([{"before": "same", "after": "same"}]) == ""


def test_what_a_passing_live_check_records_is_kept_as_evidence():
    live = {"status": "pass", "evidence": ["li.wei: enrolled (secret of 2026-12-01)"]}
    joined = controls.with_live({"status": "pass", "evidence": []}, live)
    assert (joined["status"], joined["evidence"], joined["live"]) == ("pass", live["evidence"], "pass")
    only = controls.with_live({"status": "not_checked", "evidence": []}, live)
    assert only["status"] == "pass" and only["evidence"][-1] == "li.wei: enrolled (secret of 2026-12-01)"
    failed = controls.with_live({"status": "pass", "evidence": []}, {"status": "fail", "evidence": ["x"]})
    assert failed["evidence"] == ["in force: x"]
