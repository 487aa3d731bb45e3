"""Ready for AWX (issue 17): the execution environment runs the same playbooks with the same
results as this virtualenv, so does a job sent to an execution node (ansible-runner's transmit,
worker and process), and slices of an inventory, as AWX's job slicing makes them, report what
the whole inventory reports, thanks to the static topology.

In the lane of db-01, backup-01, app-01 and monitor-01 (tests/drills/conftest.py), on three of
them: monitor-01's monitoring controls read every target's state in Prometheus, which the other
lane changes (drill (b) stops web-01), so two runs minutes apart could differ there for reasons
of their own. The lane's other drills restore what they change before the next one starts.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import drillkit
from pmops.lab.node import ssh_execution_node

HOSTS = ["app-01", "backup-01", "db-01"]
# Evidence that names a moment or an age differs between two runs a minute apart.
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d| UTC)?")
AGE = re.compile(r"\b\d+(\.\d+)?\s?(s|sec|seconds?|min|minutes?|h|hours?|d|days?)\b( ago| old)?")


def normalised(report: dict) -> dict:
    """A report's per-host results (statuses, checks, evidence), with moments and ages blanked."""
    def clean(value):
        if isinstance(value, str):
            return AGE.sub("<age>", MOMENT.sub("<moment>", value))
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value
    return clean(report["hosts"])


def comply(tmp: Path, *args: str, inventory: str = "inventory/lab", limit: str | None = ",".join(HOSTS)) -> dict:
    reports = tmp / "reports"
    proc, seconds, _ = drillkit.pmops(*args, "comply", "-i", inventory, *(["--limit", limit] if limit else []),
                                      "--reports", str(reports), "--json", str(tmp / "report.json"))
    assert (tmp / "report.json").exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp / "report.json").read_text())
    report["_seconds"], report["_rc"] = round(seconds, 1), proc.returncode
    return report


@pytest.fixture(scope="module")
def image() -> str:
    """The execution environment of the current definition (make test builds it beside the lab
    tiers; here it is cached)."""
    proc = subprocess.run([str(drillkit.BIN / "pmops"), "ee", "build"], cwd=drillkit.ROOT, env=drillkit.ENV,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def in_virtualenv(tmp_path_factory) -> dict:
    """The reference: these drills compare runs with it, whatever it finds. (The lab need not be
    compliant here: the fleet drills before them leave app-01's /etc/passwd- as an access-only
    run rewrote it, 0644, HARD-09 until the next whole converge.)"""
    report = comply(tmp_path_factory.mktemp("venv"))
    assert sorted(report["hosts"]) == HOSTS and report["summary"]["changed_nothing"], report["summary"]
    assert not [h for h, data in report["hosts"].items() if not data["reachable"]], report["summary"]
    return report


def test_comply_in_the_execution_environment_reports_what_the_virtualenv_reports(in_virtualenv, image, tmp_path):
    in_ee = comply(tmp_path, "--ee", image)
    assert in_ee["_rc"] == in_virtualenv["_rc"], in_ee["summary"]
    assert in_ee["run"]["execution"] == {"ee": image, "worker": None}
    assert normalised(in_ee) == normalised(in_virtualenv)
    assert in_ee["summary"] == in_virtualenv["summary"]
    drillkit.record_latency("execution environment: comply of 3 hosts", venv_s=in_virtualenv["_seconds"],
                            ee_s=in_ee["_seconds"])


def reports_as_local_run(in_virtualenv: dict, tmp: Path, worker: str, drill: str) -> None:
    """comply with the job sent to the execution node `worker` reports what the local run does."""
    on_node = comply(tmp, "--worker", worker)
    assert on_node["_rc"] == in_virtualenv["_rc"], on_node["summary"]
    assert on_node["run"]["execution"] == {"ee": None, "worker": worker}
    assert normalised(on_node) == normalised(in_virtualenv)
    drillkit.record_latency(f"{drill}: comply of 3 hosts", local_s=in_virtualenv["_seconds"],
                            worker_s=on_node["_seconds"])


def test_a_job_sent_to_an_execution_node_reports_what_a_local_run_reports(in_virtualenv, image, tmp_path):
    """transmit here, ansible-runner's worker in an execution environment container (the execution
    node), process here: AWX's remote execution, without receptor."""
    reports_as_local_run(in_virtualenv, tmp_path, f"podman:{image}", "execution node")


@pytest.fixture(scope="module")
def ssh_node(image, tmp_path_factory):
    """An execution node reached over SSH (pmops/lab/node.py): a container of the execution
    environment running only sshd on 127.0.0.1, with keys and a known_hosts of its own."""
    with ssh_execution_node(image, tmp_path_factory.mktemp("ssh-node")) as (name, config), \
            pytest.MonkeyPatch.context() as patch:
        patch.setitem(drillkit.ENV, "PMOPS_WORKER_SSH_CONFIG", str(config))
        yield name


def test_a_job_sent_over_ssh_to_an_execution_node_reports_what_a_local_run_reports(in_virtualenv, ssh_node, tmp_path):
    """The same job, the worker on an execution node reached over SSH (`--worker ssh:HOST`): the
    job stream goes through ssh's standard input, the results come back on its output."""
    reports_as_local_run(in_virtualenv, tmp_path, f"ssh:{ssh_node}", "execution node over SSH")


def test_site_yml_in_the_execution_environment_plans_no_change_on_a_converged_host(image, tmp_path):
    proc, seconds, _ = drillkit.pmops("--ee", image, "plan", "-i", "inventory/lab", "--limit", "backup-01",
                                      "--out", str(tmp_path / "plan"), "--detailed-exitcode")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert plan["hosts"] == ["backup-01"] and not plan["changes"] and not plan["failed"] and not plan["unreachable"]
    drillkit.record_latency("execution environment: site.yml plan of backup-01", ee_s=round(seconds, 1))


def test_slices_of_a_pared_down_inventory_report_what_the_whole_one_reports(in_virtualenv, tmp_path):
    out = tmp_path / "slices"
    proc, _, _ = drillkit.pmops("slices", "-i", "inventory/lab", "--count", "2", "--limit", ",".join(HOSTS),
                                "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    merged: dict = {}
    for number, hosts in ((1, ["app-01", "db-01"]), (2, ["backup-01"])):
        report = comply(tmp_path / f"slice-{number}", inventory=str(out / f"slice-{number}.json"), limit=None)
        assert sorted(report["hosts"]) == hosts, f"AWX puts {hosts} in slice {number} of 2"
        merged.update(normalised(report))
    assert merged == normalised(in_virtualenv)
    # Without the static topology, the slice of app-01 and db-01 would judge db-01's firewall
    # and pg_hba by the hosts of its own slice: app-02 and backup-01 admitted there look wrong.
    blind = json.loads((out / "slice-1.json").read_text())
    del blind["all"]["vars"]["pmops_topology"]
    (out / "blind.json").write_text(json.dumps(blind))
    report = comply(tmp_path / "blind", inventory=str(out / "blind.json"), limit=None)
    failing = {cid for cid, r in report["hosts"]["db-01"]["controls"].items() if r["status"] == "fail"}
    assert report["_rc"] != 0 and "NET-01" in failing and "NET-01" not in {
        cid for cid, r in in_virtualenv["hosts"]["db-01"]["controls"].items() if r["status"] == "fail"}, failing
