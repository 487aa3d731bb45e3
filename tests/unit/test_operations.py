"""pmops deploy/rollback/patch/backup/restore: requests checked before Ansible starts, and each
run recorded in the run log with what the command itself knows (the lab drills run them for real)."""

from __future__ import annotations

import json
import os
import time

import pytest

from pmops import PmopsError, change, operations, runlog, runner


def test_a_restore_names_exactly_one_thing():
    with pytest.raises(PmopsError, match="exactly one of"):
        operations.restore_request()
    with pytest.raises(PmopsError, match="exactly one of"):
        operations.restore_request(database="marketing", paths=["/etc"])


@pytest.mark.parametrize("kwargs, message", [
    ({"database": "Market;DROP"}, "--database must be a PostgreSQL database name"),
    ({"paths": ["etc/marketing-portal"]}, "--path must be absolute"),
    ({"pitr_target": "yesterday", "to": "original", "confirm": True}, "--pitr-target must be a time"),
    ({"pitr_target": "2026-11-24 18:30:00+00"}, "needs --to original --confirm"),
    ({"database": "marketing", "snapshot": "../x"}, "--snapshot must be latest or a snapshot id"),
    ({"database": "marketing", "to": "original"}, "add --confirm. Nothing was changed"),
])
def test_a_bad_restore_request_is_refused_naming_the_option(kwargs, message):
    with pytest.raises(PmopsError, match=message):
        operations.restore_request(**kwargs)


def test_a_restore_request_becomes_the_playbooks_variables():
    assert operations.restore_request(database="marketing") == {
        "restore_snapshot": "latest", "restore_to": "side", "restore_confirm": "no", "restore_database": "marketing"}
    assert operations.restore_request(pitr_target="2026-11-24 18:30:00+00", to="original", confirm=True) == {
        "restore_snapshot": "latest", "restore_to": "original", "restore_confirm": "yes",
        "restore_pitr_target": "2026-11-24 18:30:00+00"}


def test_a_bad_release_name_is_refused_before_ansible_starts():
    with pytest.raises(PmopsError, match="VERSION must be a release name"):
        operations.run_deploy("1.0; rm -rf /", "inventory/lab")
    with pytest.raises(PmopsError, match="TO must be `previous` or a release name"):
        operations.run_rollback("../1.0", "inventory/lab")


def test_a_restore_needs_a_host():
    with pytest.raises(PmopsError, match="-l/--limit"):
        operations.run_restore("inventory/lab", None, operations.restore_request(database="marketing"))


def test_a_stopped_deploy_reads_its_report_as_failed_and_rolled_back(tmp_path, monkeypatch):
    monkeypatch.setattr(operations, "DEPLOY_REPORTS", tmp_path)
    monkeypatch.setattr(operations, "ROOT", tmp_path.parent)
    started = time.time()
    old = tmp_path / "20261129T100000Z-1.2.0.json"
    old.write_text(json.dumps({"version": "1.2.0", "result": "deployed"}))
    os.utime(old, (started - 3600, started - 3600))  # an earlier run's report is not this run's
    assert operations.deploy_outcome("1.2.0")(None, started) == {}
    (tmp_path / "20261130T100000Z-1.2.0.json").write_text(json.dumps({
        "version": "1.2.0", "result": "stopped", "failed_host": "app-01", "rolled_back_to": "1.1.0",
        "failed_check": "Health check: HTTP 500", "hosts": [], "not_started": ["app-02"]}))
    outcome = operations.deploy_outcome("1.2.0")(None, started)
    assert outcome["result"] == "failed, rolled back"
    assert (outcome["failed_host"], outcome["rolled_back_to"], outcome["not_started"]) == ("app-01", "1.1.0", ["app-02"])


def test_every_run_is_recorded_with_its_request_changes_and_result(tmp_path, monkeypatch):
    """run_recorded around a stand-in for ansible-runner: the record is what this test is about."""
    monkeypatch.setenv("PMOPS_STATE_DIR", str(tmp_path))
    events = [{"host": "app-01", "task": "app : Switch current", "status": "changed"},
              {"host": "app-02", "task": "app : Health check", "status": "failed", "msg": "HTTP 500"}]
    monkeypatch.setattr(runner, "run_playbook", lambda *a, **k: runner.Result(
        rc=2, status="failed", events=events, stats={"failures": {"app-02": 1}}, seconds=3.0))
    rc, record = change.run_recorded("rollback", "playbooks/rollback.yml", "inventory/lab",
                                     extravars={"rollback_to": "1.0.0"},
                                     outcome=lambda result, started: {"note": "from the command"})
    assert rc == 2
    saved = runlog.read(runlog.path(tmp_path))
    assert len(saved) == 1 and saved[0] == record
    assert (record["command"], record["result"], record["request"]) == ("rollback", "failed", {"rollback_to": "1.0.0"})
    assert record["changed"] == {"app-01": ["app : Switch current"]} and record["failed_hosts"] == ["app-02"]
    assert record["note"] == "from the command" and record["git_commit"]
    assert change.failure_messages(events) == ["app-02: app : Health check: HTTP 500"]


@pytest.mark.parametrize("limit, sent", [(None, None), ("web-01", "web-01,localhost"), ("app,localhost", "app,localhost")])
def test_a_limited_patch_keeps_the_localhost_play_that_names_its_report_directory(monkeypatch, limit, sent):
    seen = {}

    def run_recorded(command, playbook, inventory, lim, **kw):
        seen["limit"] = lim
        return 0, None

    monkeypatch.setattr(operations, "run_recorded", run_recorded)
    assert operations.run_patch("inventory/lab", limit) == 0
    assert seen["limit"] == sent


def test_an_enrolment_keeps_its_output_but_never_the_key():
    shown = ("    - 'li.wei: key JLOODX7N7K57W6JRSCMIJMYGCA (time-based, 6 digits, 30 s)'\n"
             "    - otpauth://totp/pmops:li.wei?secret=JLOODX7N7K57W6JRSCMIJMYGCA&issuer=pmops&period=30&digits=6\n")
    kept = operations.redact_otp_key(shown)
    assert "JLOODX7N7K57W6JRSCMIJMYGCA" not in kept
    assert kept.count("(shown once, not kept)") == 2 and "li.wei" in kept


def test_an_enrolment_runs_its_playbook_with_the_login_and_shows_ansibles_output(monkeypatch):
    seen = {}
    monkeypatch.setattr(operations, "run_recorded", lambda *a, **k: seen.update(args=a, **k) or (0, {}))
    assert operations.run_otp_enrol("li.wei", True, "inventory/lab", "app") == 0
    assert seen["args"][:2] == ("otp-enrol", "playbooks/otp-enrol.yml")
    assert seen["extravars"] == {"otp_person": "li.wei", "otp_rotate": True}
    assert seen["verbose"] is True and seen["redact"] is operations.redact_otp_key


@pytest.mark.parametrize("login", ["Li.Wei", "li wei", "", "-rf"])
def test_an_enrolment_refuses_a_malformed_login_before_ansible_starts(login):
    with pytest.raises(PmopsError, match="LOGIN must be a person's login"):
        operations.run_otp_enrol(login, False, "inventory/lab")
