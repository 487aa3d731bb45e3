"""pmops.runner without Ansible: an inventory resolved once, its hosts asked once per limit,
the callback's events read back."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pmops import PmopsError, runner


def test_an_inventory_is_resolved_once_and_passes_through(tmp_path, monkeypatch):
    (tmp_path / "inv").mkdir()
    monkeypatch.chdir(tmp_path)
    inv = runner.resolve_inventory("inv")
    assert (inv.shown, inv.path) == ("inv", str(tmp_path / "inv"))
    assert runner.resolve_inventory(inv) is inv
    with pytest.raises(PmopsError, match="inventory nowhere does not exist"):
        runner.resolve_inventory("nowhere")


def test_hosts_are_asked_of_ansible_inventory_once_per_limit(monkeypatch):
    calls = []
    listing = {"_meta": {"hostvars": {"web-01": {}, "db-01": {}}}}

    def run(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, json.dumps(listing), "")

    monkeypatch.setattr(runner.subprocess, "run", run)
    inv = runner.Inventory("inventory/lab", "/abs/inventory/lab")
    assert inv.hosts() == ["db-01", "web-01"] and inv.hosts() == ["db-01", "web-01"]
    inv.hosts("web").append("not kept")
    assert inv.hosts("web") == ["db-01", "web-01"]
    assert [argv[1:] for argv in calls] == [["-i", "/abs/inventory/lab", "--list"],
                                            ["-i", "/abs/inventory/lab", "--list", "--limit", "web"]]


def test_hosts_without_hostvars_come_from_the_pmops_group_and_a_failure_is_no_hosts(monkeypatch):
    listing = {"pmops": {"children": ["web"], "hosts": ["mon-01"]}, "web": {"hosts": ["web-01"]}}
    monkeypatch.setattr(runner.subprocess, "run",
                        lambda argv, **kw: subprocess.CompletedProcess(argv, 0, json.dumps(listing), ""))
    assert runner.Inventory("i", "/i").hosts() == ["mon-01", "web-01"]
    monkeypatch.setattr(runner.subprocess, "run", lambda argv, **kw: subprocess.CompletedProcess(argv, 1, "", "bad"))
    assert runner.Inventory("i", "/i").hosts() == []


def test_events_are_read_back_line_by_line(tmp_path):
    path = tmp_path / "events.jsonl"
    assert runner.read_events(path) == []
    path.write_text('{"host": "h1", "status": "ok"}\n\n{"host": "h2", "status": "changed"}\n')
    assert runner.read_events(Path(path)) == [{"host": "h1", "status": "ok"}, {"host": "h2", "status": "changed"}]


def run_captured(monkeypatch, tmp_path, ee: str | None) -> dict:
    """run_playbook with ansible_runner.run replaced: the arguments it was given, and the private
    directory's contents at that moment."""
    import ansible_runner

    seen: dict = {}

    class Done:
        rc, status, stats, stdout = 0, "successful", {}, None

    def run(**kwargs):
        private = Path(kwargs["private_data_dir"])
        seen.update(kwargs, inventory_link=os.readlink(private / "inventory") if (private / "inventory").is_symlink()
                    else None)
        return Done()

    monkeypatch.setattr(ansible_runner, "run", run)
    if ee:
        monkeypatch.setenv("PMOPS_EE", ee)
    else:
        monkeypatch.delenv("PMOPS_EE", raising=False)
    (tmp_path / "inv").mkdir()
    runner.run_playbook("playbooks/site.yml", str(tmp_path / "inv"), check=True, label="t",
                        progress=runner.Progress("t", enabled=False))
    return seen


def test_every_run_checks_host_keys_whatever_ansible_runner_defaults_to(monkeypatch, tmp_path):
    for n, ee in enumerate((None, "localhost/pmops-ee:test")):
        (tmp_path / str(n)).mkdir()
        assert run_captured(monkeypatch, tmp_path / str(n), ee)["envvars"]["ANSIBLE_HOST_KEY_CHECKING"] == "True"


def test_a_run_in_this_virtualenv_is_not_isolated(monkeypatch, tmp_path):
    seen = run_captured(monkeypatch, tmp_path, None)
    assert "process_isolation" not in seen and seen["inventory_link"] is None
    assert seen["envvars"]["PMOPS_AUDIT_EVENTS"] == str(Path(seen["private_data_dir"]) / "events.jsonl")


def test_a_run_in_an_execution_environment_sees_the_project_at_its_own_path(monkeypatch, tmp_path):
    seen = run_captured(monkeypatch, tmp_path, "localhost/pmops-ee:test")
    assert seen["process_isolation"] is True and seen["process_isolation_executable"] == "podman"
    assert seen["container_image"] == "localhost/pmops-ee:test"
    assert seen["container_volume_mounts"] == [f"{runner.ROOT}:{runner.ROOT}"]
    assert seen["container_workdir"] == str(runner.ROOT)
    assert "--network=host" in seen["container_options"] and "--user=0" in seen["container_options"]
    # ansible-runner gives Ansible /runner/inventory: a link to the inventory that was asked for
    assert seen["inventory_link"] == str(tmp_path / "inv")
    assert seen["envvars"]["PMOPS_AUDIT_EVENTS"] == "/runner/events.jsonl"
    assert seen["envvars"]["ANSIBLE_CACHE_PLUGIN_CONNECTION"] == str(runner.CACHE / "facts")
    assert os.environ["CONTAINERS_CONF"]


def test_a_command_in_the_execution_environment_is_run_as_ansible_runner_runs_playbooks():
    argv = runner.in_container("img:1", ["python3", "-m", "pytest"], {"B": "2", "A": "1"}, mounts=(Path("/tmp/x"),))
    assert argv[:3] == ["podman", "run", "--rm"]
    assert argv[argv.index("img:1"):] == ["img:1", "python3", "-m", "pytest"]
    assert f"--volume={runner.ROOT}:{runner.ROOT}" in argv and f"--workdir={runner.ROOT}" in argv
    assert "--volume=/tmp/x:/tmp/x" in argv and "--network=host" in argv
    assert [a for a in argv if a.startswith("--env=")] == ["--env=A=1", "--env=B=2"]


def test_an_execution_node_is_a_container_or_a_host_and_nothing_else(monkeypatch):
    argv = runner.worker_command("podman:localhost/pmops-ee:1")
    assert argv[:4] == ["podman", "run", "--rm", "--interactive"] and "--tty" not in argv
    assert argv[argv.index("localhost/pmops-ee:1") + 1:] == ["ansible-runner", "worker", "--private-data-dir",
                                                             runner.WORKER_DIR, "--delete"]
    monkeypatch.delenv("PMOPS_WORKER_SSH_CONFIG", raising=False)
    # no prompt, and a node's host key must be known whatever ssh's own configuration says
    assert runner.worker_command("ssh:pmops@node-1")[:7] == ["ssh", "-o", "BatchMode=yes", "-o",
                                                             "StrictHostKeyChecking=yes", "-T", "pmops@node-1"]
    monkeypatch.setenv("PMOPS_WORKER_SSH_CONFIG", "/etc/pmops/nodes.ssh_config")
    assert runner.worker_command("ssh:node-1")[:3] == ["ssh", "-F", "/etc/pmops/nodes.ssh_config"]
    for bad in ("podman:", "node-1", "docker:x"):
        with pytest.raises(PmopsError, match="give podman:IMAGE"):
            runner.worker_command(bad)
