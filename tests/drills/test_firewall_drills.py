"""Firewall drills on a converged lab host: a rule set that would drop the control node's
SSH is refused before it loads, and the running rules stay as they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pmops import lab

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST, ADDRESS = "web-01", "10.89.30.11"


def fresh_ssh(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(lab.ssh_base() + [f"pmops@{ADDRESS}", *command], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_a_rule_set_that_would_drop_the_control_node_is_refused_before_it_loads():
    before = fresh_ssh("sudo", "-n", "nft", "list", "table", "inet", "pmops")
    assert before.returncode == 0, before.stderr
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventory/lab", "playbooks/site.yml", "--limit", HOST,
                           "--tags", "firewall", "-e", json.dumps({"firewall_ssh_from": ["192.168.77.0/24"]})],
                          cwd=ROOT, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), capture_output=True, text=True, timeout=300)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, out[-2000:]
    assert "does not hold the control node's address 10.89.30.1: the rule set would drop this very SSH connection" in out
    after = fresh_ssh("sudo", "-n", "nft", "list", "table", "inet", "pmops")
    assert after.returncode == 0 and after.stdout == before.stdout, "the running rules changed"


def test_the_rules_survive_a_restart_of_the_host():
    """nftables.service loads /etc/nftables.conf at boot: restart a lab host (its systemd
    boots again) and the table is back, with SSH from the control node still allowed."""
    before = fresh_ssh("sudo", "-n", "nft", "list", "table", "inet", "pmops")
    assert before.returncode == 0, before.stderr
    restart = subprocess.run(["podman", "restart", "--time", "5", f"pmops-{HOST}"], capture_output=True, text=True,
                             env=dict(os.environ, CONTAINERS_CONF=str(lab.CONTAINERS_CONF)), timeout=120)
    assert restart.returncode == 0, restart.stderr
    lab.wait_for_ssh(lab.load_topology().host(HOST), lab.load_topology(), timeout=90)
    after = fresh_ssh("sudo", "-n", "nft", "list", "table", "inet", "pmops")
    assert after.returncode == 0 and after.stdout == before.stdout
