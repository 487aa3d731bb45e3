"""pmops comply's pieces that need no host: mapping testinfra results to controls, the pytest
plugin (run for real with testinfra's local backend), apply's changed tasks, the CLI's errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pmops import change, cli, comply, controls

ROOT = Path(__file__).resolve().parents[2]
CONTROLS = [
    {"id": "SSH-01", "test": "tests/integration/test_ssh.py::test_effective_setting[permitrootlogin-no]"},
    {"id": "SSH-02", "test": "tests/integration/test_ssh.py::test_effective_setting[passwordauthentication-no]"},
    {"id": "ACC-04", "test": "tests/integration/test_access.py::test_no_unmanaged_sudoers_files"},
]


def rec(host, test, outcome, param="", detail=""):
    return {"host": host, "test": test, "param": param, "outcome": outcome, "detail": detail}


def test_the_catalogue_names_a_test_for_every_control():
    tests = controls.control_tests(controls.load_catalogue()["controls"])
    assert tests["SSH-01"] == ("tests/integration/test_ssh.py::test_effective_setting", "permitrootlogin-no")
    assert all(node.startswith("tests/integration/") for node, _ in tests.values())


def test_results_map_to_controls_by_test_and_parameter():
    records = [
        rec("web-01", "tests/integration/test_ssh.py::test_effective_setting", "failed", "permitrootlogin-no",
            "AssertionError: permitrootlogin: effective yes, wanted no"),
        rec("web-01", "tests/integration/test_ssh.py::test_effective_setting", "passed", "passwordauthentication-no"),
        rec("web-01", "tests/integration/test_access.py::test_no_unmanaged_sudoers_files", "passed"),
        rec("db-01", "tests/integration/test_access.py::test_no_unmanaged_sudoers_files", "skipped", detail="n/a"),
    ]
    mapped = controls.map_results(records, CONTROLS)
    assert mapped["web-01"]["SSH-01"]["outcome"] == "failed"
    assert "effective yes" in mapped["web-01"]["SSH-01"]["detail"]
    assert mapped["web-01"]["SSH-01"]["test"] == "test_ssh.py::test_effective_setting[permitrootlogin-no]"
    assert mapped["web-01"]["SSH-02"]["outcome"] == "passed"
    assert mapped["db-01"] == {"ACC-04": {"outcome": "skipped", "detail": "n/a",
                                          "test": "test_access.py::test_no_unmanaged_sudoers_files"}}


def test_the_plugin_records_each_host_and_outcome_with_testinfra(tmp_path):
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n"
        "def test_root_is_a_directory(host):\n    assert host.file('/').is_directory\n"
        "@pytest.mark.parametrize('name', ['yes', 'no'])\n"
        "def test_param(host, name):\n    assert name == 'yes', f'{name} is not yes'\n"
        "def test_skips(host):\n    pytest.skip('not a db host')\n")
    out = tmp_path / "results.jsonl"
    env = dict(os.environ, PMOPS_TESTINFRA_RESULTS=str(out), PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_probe.py"), "--hosts=local://",
                    "-p", "pmops.pytest_results", "-p", "no:cacheprovider", "-q"], cwd=tmp_path, env=env,
                   capture_output=True, text=True)
    records = {(r["test"].split("::")[1], r["param"]): r for r in map(json.loads, out.read_text().splitlines())}
    assert records[("test_root_is_a_directory", "")]["outcome"] == "passed"
    assert records[("test_param", "yes")]["outcome"] == "passed"
    assert records[("test_param", "no")]["outcome"] == "failed"
    assert "no is not yes" in records[("test_param", "no")]["detail"]
    assert records[("test_skips", "")] | {"host": None} == {
        "host": None, "test": "test_probe.py::test_skips", "param": "", "outcome": "skipped", "detail": "not a db host"}


def test_apply_records_changed_tasks_and_items_not_their_loop():
    events = [{"host": "web-01", "task": "ssh : Write", "status": "changed", "loop": False},
              {"host": "web-01", "task": "hardening : Sysctl", "status": "changed", "loop": True},
              {"host": "web-01", "task": "hardening : Sysctl", "status": "changed", "item": "kernel.x"},
              {"host": "db-01", "task": "x", "status": "ok", "loop": False}]
    assert change.changed_tasks(events) == {"web-01": ["ssh : Write", "hardening : Sysctl [kernel.x]"]}


@pytest.mark.parametrize("argv", [["comply", "-i", "no/such"], ["plan", "-i", "no/such"], ["apply", "-i", "no/such"],
                                  ["comply", "--threshold", "140"]])
def test_bad_input_stops_before_any_run(argv, capsys):
    assert cli.main(argv) == 2
    assert "pmops: error:" in capsys.readouterr().err


def test_history_with_no_log_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PMOPS_STATE_DIR", str(tmp_path))
    assert cli.main(["history"]) == 0
    assert "no run recorded yet" in capsys.readouterr().err


def test_the_plugin_runs_only_the_parametrisations_the_catalogue_names(tmp_path):
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('name', ['yes', 'no', 'maybe'])\n"
        "def test_param(host, name):\n    assert name == 'yes'\n"
        "def test_other(host):\n    pass\n")
    out = tmp_path / "results.jsonl"
    want = [["test_probe.py::test_param", "yes"], ["test_probe.py::test_other", ""]]
    env = dict(os.environ, PMOPS_TESTINFRA_RESULTS=str(out), PMOPS_TESTINFRA_WANT=json.dumps(want),
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "pytest", "test_probe.py", "--hosts=local://", "-p",
                           "pmops.pytest_results", "-p", "no:cacheprovider", "-q"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    ran = sorted((r["test"].split("::")[1], r["param"]) for r in map(json.loads, out.read_text().splitlines()))
    assert ran == [("test_other", ""), ("test_param", "yes")], proc.stdout
    assert "2 deselected" in proc.stdout


def test_the_plugin_serves_testinfra_the_listing_pmops_read(tmp_path):
    """testinfra's Ansible backend takes the inventory pmops named from pmops's listing (no
    ansible-inventory run: the inventory path does not even exist); another inventory is still
    asked of ansible-inventory."""
    (tmp_path / "test_probe.py").write_text(
        "def test_where(host):\n    assert host.backend.get_hostname() == 'web-9'\n"
        "    assert host.run('echo reached').stdout == 'reached\\n'\n")
    listing = tmp_path / "inventory.json"
    listing.write_text(json.dumps({"_meta": {"hostvars": {"web-9": {"ansible_connection": "local"}}},
                                   "all": {"children": ["ungrouped", "web"]}, "web": {"hosts": ["web-9"]}}))
    served = json.dumps({"source": "/no/such/inventory", "listing": str(listing)})

    def probe(inventory):
        out = tmp_path / f"results-{len(inventory)}.jsonl"
        env = dict(os.environ, PMOPS_TESTINFRA_RESULTS=str(out), PMOPS_TESTINFRA_INVENTORY=served,
                   PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-m", "pytest", "test_probe.py", "--hosts=ansible://web-9",
                               f"--ansible-inventory={inventory}", "-p", "pmops.pytest_results",
                               "-p", "no:cacheprovider", "-q"], cwd=tmp_path, env=env, capture_output=True, text=True)
        return [json.loads(line)["outcome"] for line in out.read_text().splitlines()] if out.exists() else [], proc

    outcomes, proc = probe("/no/such/inventory")
    assert outcomes == ["passed"], proc.stdout[-2000:]
    outcomes, proc = probe("/no/such/other")
    assert outcomes != ["passed"] and proc.returncode != 0


@pytest.mark.parametrize("argv,error", [(["comply", "--jobs", "0"], "--jobs: must be 1 or more, got 0"),
                                        (["history", "--last", "-1"], "--last: must be 1 or more, got -1"),
                                        (["history", "--last", "x"], "--last: must be a whole number, got 'x'")])
def test_counts_must_be_positive_whole_numbers(argv, error, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert error in capsys.readouterr().err


# A stand-in for one host's pytest process: notes when it ran, records one passing test of
# ACC-04 in its results file, and sleeps for as long as its host's name says.
FAKE_PYTEST = """
import json, os, sys, time
host, log = sys.argv[1], sys.argv[2]
with open(log, "a") as fh: fh.write(f"start {host} {time.monotonic()}\\n")
time.sleep(float(host.split("-")[1]) / 10)
with open(os.environ["PMOPS_TESTINFRA_RESULTS"], "a") as fh:
    fh.write(json.dumps({"host": host, "test": "tests/integration/test_access.py::test_no_unmanaged_sudoers_files",
                         "param": "", "outcome": "passed"}) + "\\n")
with open(log, "a") as fh: fh.write(f"end {host} {time.monotonic()}\\n")
"""


def fake_testinfra(monkeypatch, tmp_path, hosts, jobs):
    log = tmp_path / "runs.log"
    monkeypatch.setattr(comply.Testinfra, "_argv", lambda self, host, env: [sys.executable, "-c", FAKE_PYTEST, host, str(log)])
    return comply.Testinfra(CONTROLS, "inventory/lab", hosts, jobs), log


def test_testinfra_runs_hosts_side_by_side_but_no_more_than_jobs(monkeypatch, tmp_path):
    infra, log = fake_testinfra(monkeypatch, tmp_path, ["a-3", "b-3", "c-3"], 2)
    results = infra.start().wait(tmp_path / "testinfra.log", keep=["a-3", "b-3", "c-3"])
    assert set(results) == {"a-3", "b-3", "c-3"} and results["c-3"]["ACC-04"]["outcome"] == "passed"
    running, most = 0, 0
    for line in sorted(log.read_text().splitlines(), key=lambda line: float(line.split()[2])):
        running += 1 if line.startswith("start") else -1
        most = max(most, running)
    assert most == 2
    assert infra.status() == "testinfra 3/3 hosts done"
    assert "===== c-3 =====" in (tmp_path / "testinfra.log").read_text()


def test_testinfra_runs_in_the_execution_environment_with_what_it_needs_passed_in(monkeypatch, tmp_path):
    monkeypatch.setenv("PMOPS_EE", "localhost/pmops-ee:test")
    infra = comply.Testinfra(CONTROLS, "/abs/inventory/lab", ["web-01"], 1)
    argv = infra._argv("web-01", {"ANSIBLE_CONFIG": "/p/ansible.cfg", "PMOPS_TESTINFRA_RESULTS": "/t/web-01.jsonl",
                                  "HOME": "/root", "PYTHONPATH": "/p"})
    image = argv.index("localhost/pmops-ee:test")
    assert argv[:3] == ["podman", "run", "--rm"] and argv[image + 1:image + 4] == ["python3", "-m", "pytest"]
    assert f"--volume={infra.tmp}:{infra.tmp}" in argv and "--hosts=ansible://web-01" in argv
    assert {a for a in argv if a.startswith("--env=")} == {"--env=ANSIBLE_CONFIG=/p/ansible.cfg", "--env=PYTHONPATH=/p",
                                                           "--env=PMOPS_TESTINFRA_RESULTS=/t/web-01.jsonl"}
    monkeypatch.delenv("PMOPS_EE")
    assert infra._argv("web-01", {})[:3] == [sys.executable, "-m", "pytest"]


def test_testinfra_is_handed_the_listing_in_the_container_too_and_only_when_there_is_one(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(comply.Testinfra, "_argv", lambda self, host, env: seen.append(env) or [sys.executable, "-c", ""])
    listing = {"_meta": {"hostvars": {"web-01": {"ansible_host": "10.89.30.11"}}}}
    infra = comply.Testinfra(CONTROLS, "/abs/inventory/lab", ["web-01"], 1, listing)
    assert json.loads(infra.listing.read_text()) == listing
    infra.start().wait(tmp_path / "testinfra.log", keep=["web-01"])
    assert json.loads(seen[0]["PMOPS_TESTINFRA_INVENTORY"]) == {"source": "/abs/inventory/lab",
                                                                 "listing": str(infra.listing)}
    assert "PMOPS_TESTINFRA_INVENTORY" in comply.Testinfra.PASSED  # what --ee passes into the container
    assert not infra.tmp.exists()
    bare = comply.Testinfra(CONTROLS, "/abs/inventory/lab", ["web-01"], 1, {})
    bare.start().wait(tmp_path / "t.log", keep=["web-01"])
    assert "PMOPS_TESTINFRA_INVENTORY" not in seen[1]


def test_a_stopped_run_leaves_no_pytest_and_no_listing_behind(monkeypatch, tmp_path):
    infra, log = fake_testinfra(monkeypatch, tmp_path, ["slow-600"], 1)  # would sleep 60 s
    infra.start()
    time.sleep(0.5)
    started = time.monotonic()
    infra.stop()
    assert time.monotonic() - started < 10 and not infra.tmp.exists()
    assert "end slow-600" not in log.read_text()


def test_a_host_check_mode_could_not_reach_is_stopped_not_waited_for(monkeypatch, tmp_path):
    infra, _ = fake_testinfra(monkeypatch, tmp_path, ["up-1", "down-600"], 2)
    infra.start()
    results = infra.wait(tmp_path / "testinfra.log", keep=["up-1"])  # down-600 would sleep 60 s
    assert set(results) == {"up-1"}
    assert "not tested: the check-mode run could not reach this host" in (tmp_path / "testinfra.log").read_text()
