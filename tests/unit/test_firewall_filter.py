"""The tier firewall policy compiled per host, and the refusals (pure functions)."""

from __future__ import annotations

import pytest

from filter_plugins.pmops_firewall import pmops_firewall_errors, pmops_firewall_rules
from filter_plugins.pmops_topology import FilterModule as Topology
from pmops.topology import addresses as pmops_topology_addresses, covers, sources as pmops_topology_sources

GROUPS = {"all": ["web-01", "app-01", "db-01", "backup-01"], "pmops": ["web-01", "app-01", "db-01", "backup-01"],
          "web": ["web-01"], "app": ["app-01"], "db": ["db-01"], "backup": ["backup-01"], "ungrouped": []}
HOSTVARS = {"web-01": {"ansible_host": "10.0.0.11"}, "app-01": {"ansible_host": "10.0.0.21"},
            "db-01": {"ansible_host": "10.0.0.31", "pmops_address": "10.0.1.31"}, "backup-01": {"ansible_host": "10.0.0.41"}}
POLICY = {
    "web": [{"port": 443, "from": ["any"]}],
    "app": [{"port": 8080, "from": ["web"]}],
    "db": [{"port": 5432, "from": ["app", "backup", "192.168.5.0/24"]}],
    "all": [{"port": 9100, "proto": "tcp", "from": ["10.0.0.51"]}],
}


@pytest.fixture
def addresses():
    return pmops_topology_addresses(GROUPS, HOSTVARS)


def test_addresses_of_groups_and_hosts(addresses):
    assert addresses["db"] == ["10.0.1.31"] and addresses["app-01"] == ["10.0.0.21"]
    assert addresses["pmops"] == ["10.0.0.11", "10.0.0.21", "10.0.0.41", "10.0.1.31"]


def test_rules_of_the_db_host_resolve_groups_to_addresses(addresses):
    rules = pmops_firewall_rules(POLICY, ["pmops", "db"], addresses)
    assert [(r["port"], r["sources"]) for r in rules] == [
        (5432, ["10.0.0.21", "10.0.0.41", "192.168.5.0/24"]), (9100, ["10.0.0.51"])]


def test_any_means_no_source_restriction(addresses):
    rules = pmops_firewall_rules(POLICY, ["pmops", "web"], addresses)
    assert rules[0] == {"port": 443, "proto": "tcp", "sources": None, "comment": "web: 443"}
    assert pmops_topology_sources(["any"], addresses) == ["0.0.0.0/0", "::/0"]
    assert covers("203.0.113.9", None) and not covers("10.0.0.11", ["10.0.0.21", "192.168.5.0/24"])


def test_a_sound_policy_has_no_errors(addresses):
    assert pmops_firewall_errors(POLICY, ["10.0.0.0/24"], addresses, "10.0.0.1") == []


@pytest.mark.parametrize(("policy", "ssh_from", "message"), [
    ({"dbx": [{"port": 1}]}, ["10.0.0.1"], "firewall_policy.dbx: not a group or host of the inventory"),
    ({"db": [{"port": 70000}]}, ["10.0.0.1"], "firewall_policy.db[0].port: '70000' is not a port"),
    ({"db": [{"port": 5432, "proto": "sctp"}]}, ["10.0.0.1"], "proto: must be tcp or udp"),
    ({"db": [{"port": 5432, "from": ["apps"]}]}, ["10.0.0.1"], "from: 'apps' is not a group, host, network or 'any'"),
    ({"db": [{"from": ["app"]}]}, ["10.0.0.1"], "firewall_policy.db[0]: needs a port"),
    ({}, ["adminnet"], "firewall_ssh_from: 'adminnet' is not a group, host or network"),
    ({}, ["192.168.0.0/24"], "does not hold the control node's address 10.0.0.1: the rule set would drop this very SSH"),
])
def test_bad_policies_are_refused(addresses, policy, ssh_from, message):
    errors = pmops_firewall_errors(policy, ssh_from, addresses, "10.0.0.1")
    assert any(message in e for e in errors), errors


def test_the_topology_filters_are_the_shared_code():
    from pmops import topology

    assert Topology().filters() == {"pmops_topology_addresses": pmops_topology_addresses,
                                    "pmops_topology_sources": pmops_topology_sources,
                                    "pmops_topology_view": topology.view,
                                    "pmops_topology_hosts_with": topology.hosts_with,
                                    "pmops_topology_errors": topology.static_errors}
