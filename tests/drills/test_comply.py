"""Compliance runs (`pmops comply`), plans, applies and their history on the converged lab:
three drifts on three hosts named exactly, with evidence, and nothing changed by the run;
apply makes it clean again (every host compliant, exit 0) and is in the history; waived and
expired exceptions; a stopped host is unreachable; plans list exactly what a changed
variable changes; the HTML report renders in headless Chromium.

These drills run first among the drills (conftest.py): the first comply must see the lab as
the converge left it plus the three drifts, and nothing else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from pmops import lab

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# What a run must not change: every file under /etc and the firewall's state.
STATE = "{ find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum; nft list ruleset; " \
        "systemctl is-active nftables; } | sha256sum"
NOT_COMPLIANT = ("fail", "error", "unreachable")


def pmops(*args: str, state: Path | None = None, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = dict(os.environ, PMOPS_STATE_DIR=str(state)) if state is not None else None
    return subprocess.run([str(BIN / "pmops"), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env)


def comply(reports: Path, *args: str, inventory: str = "inventory/lab") -> tuple[int, dict, str]:
    proc = pmops("comply", "-i", inventory, "--reports", str(reports), *args)
    runs = sorted(reports.glob("*/report.json"))
    report = json.loads(runs[-1].read_text()) if runs else {}
    return proc.returncode, report, proc.stdout + proc.stderr


def failing(report: dict) -> set[tuple[str, str]]:
    return {(host, cid) for host, data in report["hosts"].items() for cid, r in data["controls"].items()
            if r["status"] in NOT_COMPLIANT}


def assert_compliant_and_reported(reports: Path, report: dict) -> None:
    assert report["summary"]["compliant"] and report["summary"]["changed_nothing"]
    hosts = report["hosts"]
    assert len(hosts) == 6 and all(h["score"] == 100.0 for h in hosts.values())
    run = sorted(reports.glob("*/"))[-1]
    junit = ET.parse(run / "junit.xml").getroot()
    assert int(junit.get("tests")) == 6 * report["summary"]["controls"]
    assert junit.get("failures") == "0" and junit.get("errors") == "0"
    assert (run / "report.html").stat().st_size > 0


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reports")


def test_three_drifts_are_named_exactly_with_evidence_and_the_run_changes_nothing(reports, tmp_path):
    drift = {
        "web-01": "sed -i 's/^PermitRootLogin no/PermitRootLogin yes/' /etc/ssh/sshd_config",
        "app-01": "printf 'intruder ALL=(ALL) NOPASSWD: ALL\\n' > /etc/sudoers.d/zz-stray && chmod 0440 /etc/sudoers.d/zz-stray",
        "db-01": "systemctl start nftables && systemctl stop nftables",  # stop flushes the rules
    }
    for host, command in drift.items():
        assert lab.as_root(host, command).returncode == 0, host
    before = {host: lab.as_root(host, STATE).stdout for host in drift}
    code, report, out = comply(reports)
    assert code == 1, out
    assert failing(report) == {("web-01", "SSH-01"), ("app-01", "ACC-04"), ("db-01", "NET-01")}, out
    assert {host: lab.as_root(host, STATE).stdout for host in drift} == before, "the compliance run changed a host"
    evidence = {(h, c): " ".join(report["hosts"][h]["controls"][c]["evidence"]) for h, c in failing(report)}
    assert "PermitRootLogin yes" in evidence[("web-01", "SSH-01")] or "effective yes" in evidence[("web-01", "SSH-01")]
    assert "zz-stray" in evidence[("app-01", "ACC-04")]
    assert "rule set is not loaded" in evidence[("db-01", "NET-01")]
    # apply puts it right, and the run log says what it changed
    state = tmp_path / "state"
    applied = pmops("apply", "-i", "inventory/lab", state=state)
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    # the converged lab: every host compliant, reported three ways
    code, report, out = comply(reports)
    assert code == 0 and failing(report) == set(), out
    assert_compliant_and_reported(reports, report)
    history = pmops("history", "--verbose", "--verify", state=state)
    assert history.returncode == 0, history.stderr
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout[:8]
    assert commit in history.stdout and "chain intact" in history.stderr
    assert "web-01: ssh : " in history.stdout and "app-01: access : " in history.stdout


def test_waived_and_expired_exceptions(reports, tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory" / "lab", inventory)
    register = [
        {"control": "HARD-07", "hosts": ["web-01"], "reason": "Vendor banner during the pilot",
         "owner": "ops@example.cn", "ticket": "CHG-1", "expires": "2099-12-31"},
        {"control": "HARD-06", "groups": ["web"], "reason": "Old cron exception", "owner": "ops@example.cn",
         "ticket": "CHG-2", "expires": "2020-01-31"},
    ]
    (inventory / "group_vars" / "all" / "exceptions.yml").write_text(yaml.safe_dump({"pmops_exceptions": register}))
    code, report, out = comply(reports, "--limit", "web-01", inventory=str(inventory))
    assert code == 1, out
    web = report["hosts"]["web-01"]["controls"]
    assert web["HARD-07"]["status"] == "waived"
    assert web["HARD-07"]["waiver"]["owner"] == "ops@example.cn" and str(web["HARD-07"]["waiver"]["expires"]) == "2099-12-31"
    assert web["HARD-06"]["status"] == "fail" and "exception expired on 2020-01-31" in web["HARD-06"]["evidence"][0]
    assert failing(report) == {("web-01", "HARD-06")}, out


def test_a_stopped_host_is_unreachable_never_compliant(reports):
    stop = lab.podman("stop", "--time", "5", "pmops-monitor-01", check=False)
    assert stop.returncode == 0, stop.stderr
    try:
        code, report, out = comply(reports, "--limit", "monitor-01,web-01")
        assert code == 1, out
        monitor = report["hosts"]["monitor-01"]
        assert monitor["reachable"] is False and monitor["score"] == 0.0
        assert {r["status"] for r in monitor["controls"].values()} == {"unreachable"}
        # web-01 is reached and assessed; what it cannot do without monitor-01 (its logs
        # arriving at the log server) fails, as it should
        assert report["hosts"]["web-01"]["reachable"] is True
        assert failing(report) - {("monitor-01", c) for c in monitor["controls"]} == {("web-01", "HARD-18")}
    finally:
        up = pmops("lab", "up")
        assert up.returncode == 0, up.stderr


def test_a_plan_lists_exactly_what_a_changed_variable_changes(tmp_path):
    proc = pmops("plan", "-i", "inventory/lab", "--out", str(tmp_path / "same"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "**No changes.**" in (tmp_path / "same" / "plan.md").read_text()
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory" / "lab", inventory)
    (inventory / "group_vars" / "web" / "zz-plan-drill.yml").write_text("ssh_max_auth_tries: 4\n")
    proc = pmops("plan", "-i", str(inventory), "--out", str(tmp_path / "changed"), "--detailed-exitcode")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    plan = json.loads((tmp_path / "changed" / "plan.json").read_text())
    assert set(plan["changes"]) == {"web-01"}
    tasks = [c["task"] for c in plan["changes"]["web-01"]]
    assert tasks and all(t.startswith("ssh : ") for t in tasks), tasks
    assert "MaxAuthTries 4" in (tmp_path / "changed" / "plan.md").read_text()


def test_the_html_report_renders_scores_and_chart_in_headless_chromium(reports, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is installed by make setup"
    # the newest run of this module that covered the whole lab and was compliant
    page = [p.parent / "report.html" for p in sorted(reports.glob("*/report.json"))
            if json.loads(p.read_text())["summary"]["compliant"] and len(json.loads(p.read_text())["hosts"]) == 6][-1]
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    proc = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert '<span id="overall-score">100.0 %</span>' in dom and "compliant" in dom
    assert dom.count('class="point"') >= 2 and "<polyline" in dom  # the trend of this module's runs
    assert all(f'data-host="{h}"' in dom for h in ("web-01", "app-01", "db-01", "backup-01", "monitor-01"))
