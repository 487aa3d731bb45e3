"""Firewall drills on a converged lab host: a rule set that would drop the control node's
SSH is refused before it loads, and the running rules stay as they were."""

from __future__ import annotations

import subprocess

import drillkit
from drillkit import ENV, lab

HOST = "web-01"


def fresh_ssh(*command: str) -> subprocess.CompletedProcess:
    return drillkit.ssh(HOST, *command, timeout=60)


def test_a_rule_set_that_would_drop_the_control_node_is_refused_before_it_loads():
    before = fresh_ssh("sudo", "-n", "nft", "list", "table", "inet", "pmops")
    assert before.returncode == 0, before.stderr
    proc, _, out = drillkit.converge(limit=HOST, tags="firewall", extra={"firewall_ssh_from": ["192.168.77.0/24"]},
                                     timeout=300)
    assert proc.returncode != 0, out[-2000:]
    assert (f"does not hold the control node's address {drillkit.topology().gateway}: "
            "the rule set would drop this very SSH connection") in out
    after = fresh_ssh("sudo", "-n", "nft", "list", "table", "inet", "pmops")
    assert after.returncode == 0 and after.stdout == before.stdout, "the running rules changed"


def test_the_rules_survive_a_restart_of_the_host():
    """nftables.service loads /etc/nftables.conf at boot: restart a lab host (its systemd
    boots again) and the table is back, with SSH from the control node still allowed."""
    before = fresh_ssh("sudo", "-n", "nft", "list", "table", "inet", "pmops")
    assert before.returncode == 0, before.stderr
    restart = subprocess.run(["podman", "restart", "--time", "5", f"pmops-{HOST}"], capture_output=True, text=True,
                             env=ENV, timeout=120)
    assert restart.returncode == 0, restart.stderr
    lab.wait_for_ssh(drillkit.topology().host(HOST), drillkit.topology(), timeout=90)
    after = fresh_ssh("sudo", "-n", "nft", "list", "table", "inet", "pmops")
    assert after.returncode == 0 and after.stdout == before.stdout
