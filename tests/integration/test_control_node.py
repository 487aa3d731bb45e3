"""A control node as the control_node role leaves it (molecule scenario control_node): the
project and pmops in their virtualenv, the state directories, the run log, the nightly
compliance timer; and the nightly unit's failure path run for real."""

from __future__ import annotations

import json

import pytest

from conftest import role_inputs


@pytest.fixture(scope="module")
def node(hostvars) -> dict:
    if "control_node_bundle" not in hostvars and "control_node_source" not in hostvars:
        pytest.skip("not a control node")
    return role_inputs("control_node", hostvars)


def test_control_node_runs_pmops_from_its_checkout(host, node):
    out = host.run(f"sudo -u {node['control_node_user']} {node['control_node_dir']}/.venv/bin/pmops --version")
    assert out.rc == 0 and out.stdout.startswith("pmops "), out.stderr
    where = host.run(f"{node['control_node_dir']}/.venv/bin/python -c 'import pmops; print(pmops.__file__)'")
    assert where.stdout.startswith(node["control_node_dir"] + "/pmops/")
    for tool in ("ansible-playbook", "pytest", "ansible-runner"):
        assert host.file(f"{node['control_node_dir']}/.venv/bin/{tool}").exists, tool


def test_control_node_keeps_its_state_to_its_account(host, node):
    for sub in ("", "/reports", "/runlog"):
        d = host.file(node["control_node_state_dir"] + sub)
        assert d.is_directory and d.user == node["control_node_user"] and d.mode == 0o750, sub
    log = host.file(f"{node['control_node_state_dir']}/runlog/apply.jsonl")
    assert log.exists and log.user == node["control_node_user"] and log.mode == 0o640
    verify = host.run(f"sudo -u {node['control_node_user']} env PMOPS_STATE_DIR={node['control_node_state_dir']} "
                      f"{node['control_node_dir']}/.venv/bin/pmops history --verify")
    assert verify.rc == 0 and "chain intact" in verify.stderr, verify.stderr


def test_control_node_schedules_the_compliance_run(host, node):
    timer = host.service("pmops-comply.timer")
    assert timer.is_enabled
    assert host.run("systemctl is-active pmops-comply.timer").stdout.strip() == "active"
    unit = host.file("/etc/systemd/system/pmops-comply.service").content_string
    assert f"pmops comply -i {node['control_node_inventory']} --threshold {node['control_node_comply_threshold']}" in unit
    assert "OnFailure=pmops-comply-failed.service" in unit
    assert f"-mtime +{node['control_node_report_keep_days']}" in unit


def test_control_node_reports_a_failed_run_in_the_journal_and_prunes_old_reports(host, node):
    state = node["control_node_state_dir"]
    user = node["control_node_user"]
    # a report older than the retention, which the next run must remove
    old = f"{state}/reports/20200101T000000Z"
    host.run(f"sudo -u {user} mkdir -p {old} && sudo -u {user} touch -d '2020-01-01' {old}")
    host.run("journalctl --rotate --vacuum-time=1s >/dev/null 2>&1; systemctl reset-failed pmops-comply.service")
    run = host.run("systemctl start pmops-comply.service")
    assert run.rc != 0, "the fleet is not reachable from a molecule container: the run must fail"
    assert not host.file(old).exists, "the report past its retention was not removed"
    notice = host.run("journalctl -t pmops-comply -p err --no-pager -o cat").stdout
    assert "FAILED or found the fleet NOT COMPLIANT" in notice
    reports = host.run(f"ls {state}/reports").stdout.split()
    assert reports, "the failed run left no report"
    report = json.loads(host.file(f"{state}/reports/{sorted(reports)[-1]}/report.json").content_string)
    assert report["summary"]["compliant"] is False
    assert {h["reachable"] for h in report["hosts"].values()} == {False}


def test_control_node_says_when_alerting_is_broken(host, node):
    if not node["control_node_alerting_watch_enabled"]:
        pytest.skip("the alerting watch is off here")
    assert host.service("pmops-alerting-watch.timer").is_enabled
    host.run("journalctl --rotate --vacuum-time=1s >/dev/null 2>&1; systemctl reset-failed pmops-alerting-watch.service")
    run = host.run("systemctl start pmops-alerting-watch.service")
    assert run.rc != 0, "a monitor that does not exist cannot answer: the watch must fail"
    notice = host.run("journalctl -t pmops-alerting-watch -p crit --no-pager -o cat").stdout
    assert "ALERTING IS BROKEN" in notice
    said = host.run("journalctl -u pmops-alerting-watch.service --no-pager -o cat").stdout
    assert "pmops watchdog: ALERTING IS BROKEN" in said, said[-2000:]
