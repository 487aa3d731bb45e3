"""The run log of applies: appended, chained, verified, listed."""

from __future__ import annotations

import json

from pmops import runlog


def record(**changes):
    return dict({"who": "li.wei", "started": "2026-11-24T18:00:00Z", "finished": "2026-11-24T18:02:00Z",
                 "git_commit": "0123456789abcdef", "git_dirty": False, "inventory": "inventory/lab", "limit": None,
                 "tags": [], "result": "ok", "changed": {"web-01": ["ssh : Write sshd_config"]}}, **changes)


def test_records_are_appended_with_a_sequence_and_a_chain(tmp_path):
    log = tmp_path / "runs" / "apply.jsonl"
    first = runlog.append(log, record())
    second = runlog.append(log, record(result="failed"))
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["prev"] == runlog.GENESIS and second["prev"] != runlog.GENESIS
    assert [r["result"] for r in runlog.read(log)] == ["ok", "failed"]
    assert runlog.verify(log) == []


def test_an_edited_record_breaks_the_chain(tmp_path):
    log = tmp_path / "apply.jsonl"
    for result in ("ok", "ok", "ok"):
        runlog.append(log, record(result=result))
    lines = log.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["result"] = "failed"
    lines[0] = json.dumps(edited, sort_keys=True)
    log.write_text("\n".join(lines) + "\n")
    assert runlog.verify(log) == ["line 2 (seq 2): the line before it was edited or removed"]


def test_a_removed_record_is_found(tmp_path):
    log = tmp_path / "apply.jsonl"
    for result in ("ok", "ok", "ok"):
        runlog.append(log, record(result=result))
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], lines[2]]) + "\n")
    problems = runlog.verify(log)
    assert any("edited or removed" in p for p in problems) and any("a record was removed" in p for p in problems)


def test_history_lists_commit_and_changed_tasks(tmp_path):
    log = tmp_path / "apply.jsonl"
    runlog.append(log, record(git_dirty=True, limit="web-01", tags=["ssh"]))
    lines = runlog.history_lines(runlog.read(log), verbose=True)
    assert "01234567+" in lines[1] and "inventory/lab / web-01 / ssh" in lines[1] and lines[1].split()[6] == "1" and lines[1].split()[3] == "apply"
    assert lines[2].strip() == "web-01: ssh : Write sshd_config"


def test_history_names_what_an_apply_could_not_put_right(tmp_path):
    log = tmp_path / "apply.jsonl"
    runlog.append(log, record(result="drift remains", unhealed={"backup-01": {"NET-02": ["tcp 0.0.0.0:4444 listens"]}}))
    lines = runlog.history_lines(runlog.read(log), verbose=True)
    assert "drift remains" in lines[1]
    assert lines[-1].strip() == "backup-01: NOT PUT RIGHT NET-02: tcp 0.0.0.0:4444 listens"


def test_who_names_the_sudo_caller_and_the_ci_user(monkeypatch):
    monkeypatch.setenv("SUDO_USER", "zhao.lei")
    monkeypatch.setenv("GITLAB_USER_LOGIN", "merge-bot")
    assert runlog.who() == "zhao.lei (CI: merge-bot)"


def test_git_state_outside_git_is_unknown(tmp_path):
    assert runlog.git_state(tmp_path) == (None, False)


def test_history_shows_each_command_its_request_and_a_stopped_deploy(tmp_path):
    log = tmp_path / "apply.jsonl"
    runlog.append(log, record(command="deploy", request={"app_version": "1.2.0"}, result="failed, rolled back",
                              failed_host="app-01", failed_check="Health check: HTTP 500",
                              rolled_back_to="1.1.0", changed={"app-01": ["app : Switch current"]}))
    runlog.append(log, record(command="patch", changed={}, reports=".cache/patch/20261130T100000Z"))
    lines = runlog.history_lines(runlog.read(log), verbose=True)
    deploy = lines[1].split()
    assert deploy[3] == "deploy" and "failed, rolled back" in lines[1] and lines[1].endswith("(app_version=1.2.0)")
    assert "failed host: app-01" in lines[2] and "rolled back to: 1.1.0" in lines[4]
    assert lines[5].strip() == "app-01: app : Switch current"
    assert lines[6].split()[3] == "patch" and "reports: .cache/patch/20261130T100000Z" in lines[7]
    assert runlog.path(tmp_path) == tmp_path / "runlog" / "apply.jsonl"
