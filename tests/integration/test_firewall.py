"""The tier firewall, tested with real connections: from each host to every other host's
service ports, allowed pairs connect and denied pairs do not.

A short-lived listener (python3, for 120 s) answers on every policy port that nothing else
listens on, on every host, so each attempt reaches a socket unless the firewall drops it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import testinfra
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from filter_plugins.pmops_firewall import pmops_firewall_rules  # noqa: E402
from pmops.topology import covers, sources  # noqa: E402

LISTEN = r"""
import socket, sys, threading, time
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try: s.bind(("0.0.0.0", port))
    except OSError: return
    s.listen(64)
    while True:
        c, _ = s.accept(); c.close()
for p in map(int, sys.argv[1:]): threading.Thread(target=serve, args=(p,), daemon=True).start()
time.sleep(120)
"""

PROBE = r"""
import json, socket, sys, concurrent.futures as f
pairs = json.loads(sys.argv[1])
def attempt(pair):
    try:
        socket.create_connection((pair[0], pair[1]), timeout=2).close(); return True
    except OSError:
        return False
with f.ThreadPoolExecutor(64) as pool: print(json.dumps(list(pool.map(attempt, pairs))))
"""


def load(config) -> tuple[dict, list]:
    inventory = Path(config.getoption("ansible_inventory") or "inventory/lab")
    inventory = inventory if inventory.is_absolute() else ROOT / inventory
    data = yaml.safe_load((inventory / "group_vars" / "all" / "firewall.yml").read_text())
    return data, data.get("firewall_ssh_from", [])


@pytest.fixture(scope="module")
def lab(request) -> dict:
    """Every host of the run: its address, groups and testinfra handle; listeners started."""
    inventory = request.config.getoption("ansible_inventory")
    names = AnsibleRunner(inventory).get_hosts("pmops")
    hosts = {}
    for name in names:
        handle = testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory, sudo=True)
        variables = handle.ansible.get_variables()
        hosts[name] = {"host": handle, "address": variables.get("pmops_address") or variables["ansible_host"],
                       "groups": variables.get("group_names", [])}
    policy, _ = load(request.config)
    # sshd already listens on 22 (the backup tier admits SFTP there): no probe listener for it
    ports = sorted({int(str(r["port"]).split("-")[0]) for rules in policy["firewall_policy"].values() for r in rules} - {22})
    for entry in hosts.values():
        entry["host"].run("systemctl stop pmops-netprobe 2>/dev/null; systemd-run --unit pmops-netprobe "
                          f"python3 -c '{LISTEN}' {' '.join(map(str, ports))}")
    yield {"hosts": hosts, "ports": ports + [22]}
    for entry in hosts.values():
        entry["host"].run("systemctl stop pmops-netprobe")


def test_the_network_matrix_holds(host, hostvars, lab, request):
    policy, ssh_from = load(request.config)
    hosts = lab["hosts"]
    groups = {}
    for name, entry in hosts.items():
        groups.setdefault(name, []).append(entry["address"])
        for group in entry["groups"]:
            groups.setdefault(group, []).append(entry["address"])
    source = hostvars.get("pmops_address") or hostvars["ansible_host"]
    pairs, wanted = [], []
    for name, entry in sorted(hosts.items()):
        if entry["address"] == source:
            continue
        rules = pmops_firewall_rules(policy["firewall_policy"], entry["groups"], groups)
        for port in lab["ports"]:
            allowed = any(int(str(r["port"]).split("-")[0]) == port and covers(source, r["sources"]) for r in rules)
            if port == 22:
                allowed = allowed or covers(source, sources(ssh_from, groups))
            pairs.append([entry["address"], port])
            wanted.append((name, port, allowed))
    got = json.loads(host.check_output(f"python3 -c '{PROBE}' '{json.dumps(pairs)}'"))
    wrong = [f"{hostvars['inventory_hostname']} -> {name}:{port} {'should connect' if allowed else 'should be refused'}"
             for (name, port, allowed), ok in zip(wanted, got) if ok != allowed]
    assert wrong == []
    assert sum(ok for ok in got) > 0, "nothing connected at all"


def test_the_firewall_is_loaded_and_drops_inbound_by_default(host):
    """This host's own side of NET-01 (the matrix above proves the policy across hosts)."""
    # enabled for the next boot; the role loads the rules itself (nftables.service stays inactive)
    assert host.service("nftables").is_enabled
    chain = host.run("nft list chain inet pmops input")
    assert chain.rc == 0, f"the pmops table is not loaded: {chain.stderr.strip()}"
    assert "policy drop;" in chain.stdout


def test_only_the_ports_the_tier_opens_listen(host, hostvars, request):
    """Outside loopback, every listening socket is on a port the tier policy opens here (NET-02):
    the same verdict as pmops comply's (pmops/checks.py), from `ss` read here."""
    from module_utils.pmops_live_state import parse_ss
    from pmops.checks import sockets

    policy, ssh_from = load(request.config)
    rules = pmops_firewall_rules(policy.get("firewall_policy", {}), hostvars.get("group_names", []), {})
    wanted = {"firewall_wanted": {"rules": rules, "ssh_port": hostvars.get("ssh_port", 22)}}
    # the network matrix's own probe listeners (pmops-netprobe, on every policy port for 120 s,
    # maybe started by another worker) are not the host's
    probe = host.run("systemctl show -P MainPID pmops-netprobe").stdout.strip()
    lines = [line for line in host.check_output("ss -Htulnp").splitlines()
             if not (probe not in ("", "0") and f"pid={probe}," in line)]
    found = parse_ss("\n".join(lines))
    assert sockets(wanted, {"sockets": found})["NET-02"] == []


def test_no_other_packet_filter_runs_beside_the_policy(host):
    """NET-03 (CIS 4.2.3): the policy's table is the only one loaded, and no iptables-legacy rule."""
    tables = [" ".join(line.split()) for line in host.check_output("nft list tables").splitlines() if line.strip()]
    assert tables == ["table inet pmops"]
    # no iptables-legacy-save, or no rule: both print nothing (grep exits 1 for no rule)
    legacy = host.run("command -v iptables-legacy-save >/dev/null && iptables-legacy-save | grep '^-A' || true")
    assert legacy.stdout.strip() == ""


def test_loopback_is_accepted_on_lo_only(host):
    """CIS 4.2.6: loopback traffic is accepted on lo; a loopback source on any other interface is dropped."""
    chain = " ".join(host.check_output("nft list chain inet pmops input").split())
    assert 'iif "lo" accept' in chain
    assert 'iif != "lo" ip saddr 127.0.0.0/8 drop' in chain
    assert 'iif != "lo" ip6 saddr ::1 drop' in chain
