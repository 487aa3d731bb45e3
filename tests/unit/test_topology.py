"""The static topology (pmops.topology): built from ansible-inventory's listing, the addresses
every role admits or names read from it, and a run's inventory checked against it."""

from __future__ import annotations

import pytest

from pmops import topology

LISTING = {
    "_meta": {"hostvars": {
        "web-01": {"ansible_host": "10.0.0.11", "pmops_service": "web", "nginx_metrics_enabled": True,
                   "pmops_environment": "lab", "unrelated": 1},
        "app-01": {"ansible_host": "10.0.0.21", "pmops_service": "portal", "pmops_environment": "lab"},
        "db-01": {"pmops_address": "10.0.1.31", "ansible_host": "db.example", "exporters_postgres_enabled": True},
    }},
    "all": {"children": ["ungrouped", "pmops"]},
    "pmops": {"children": ["web", "app", "db"]},
    "web": {"hosts": ["web-01"]},
    "app": {"hosts": ["app-01"]},
    "db": {"hosts": ["db-01"]},
    "ungrouped": {},
}
STATIC = topology.build_static(LISTING)


def test_the_static_topology_holds_each_hosts_address_groups_and_published_variables_only():
    assert STATIC["hosts"]["web-01"] == {"address": "10.0.0.11", "groups": ["pmops", "web"],
                                         "vars": {"nginx_metrics_enabled": True, "pmops_environment": "lab",
                                                  "pmops_service": "web"}}
    assert STATIC["hosts"]["db-01"]["address"] == "10.0.1.31"  # pmops_address before ansible_host
    assert topology.static_groups(STATIC) == {"app": ["app-01"], "db": ["db-01"], "pmops": ["app-01", "db-01", "web-01"],
                                              "web": ["web-01"]}


def test_a_template_in_the_topology_is_refused_naming_host_and_variable():
    listing = {"_meta": {"hostvars": {"h": {"ansible_host": "{{ lookup('env', 'X') }}"}}}, "all": {"hosts": ["h"]}}
    with pytest.raises(ValueError, match="h: address is a template"):
        topology.build_static(listing)


def test_a_slice_of_the_inventory_admits_every_peer_through_the_static_topology():
    full_groups = {"all": ["web-01", "app-01", "db-01"], "web": ["web-01"], "app": ["app-01"], "db": ["db-01"],
                   "pmops": ["web-01", "app-01", "db-01"]}
    hostvars = {name: dict(hv, group_names=[g for g in ("web", "app", "db", "pmops") if name in full_groups[g]])
                for name, hv in LISTING["_meta"]["hostvars"].items()}
    unsliced = topology.addresses(full_groups, hostvars)
    # AWX's slice: every group, but only the slice's hosts in them and in hostvars
    sliced_groups = {"all": ["db-01"], "web": [], "app": [], "db": ["db-01"], "pmops": ["db-01"]}
    assert topology.addresses(sliced_groups, {"db-01": hostvars["db-01"]})["app"] == []
    assert topology.addresses(sliced_groups, {"db-01": hostvars["db-01"]}, STATIC) == unsliced
    assert topology.sources(["app", "web-01"], topology.addresses(sliced_groups, {}, STATIC)) == ["10.0.0.11",
                                                                                                 "10.0.0.21"]


def test_a_stale_topology_is_named_host_by_host_and_a_slice_is_not_stale():
    hostvars = {name: dict(hv, group_names=["pmops", group])
                for (name, hv), group in zip(LISTING["_meta"]["hostvars"].items(), ("web", "app", "db"))}
    assert topology.static_errors(STATIC, hostvars, ["web-01", "app-01", "db-01"]) == []
    assert topology.static_errors(STATIC, hostvars, ["db-01"]) == []
    assert topology.static_errors(None, hostvars, ["db-01"]) == []
    moved = dict(hostvars, **{"app-01": dict(hostvars["app-01"], ansible_host="10.0.0.99")})
    assert topology.static_errors(STATIC, moved, ["app-01"]) == [
        "pmops_topology: app-01's address is '10.0.0.21' there but '10.0.0.99' in the inventory"]
    new = dict(hostvars, **{"app-02": {"ansible_host": "10.0.0.22", "group_names": ["app"]}})
    assert topology.static_errors(STATIC, new, ["app-02"]) == [
        "pmops_topology: host app-02 is in the inventory but not in the topology"]
    relabelled = dict(hostvars, **{"web-01": dict(hostvars["web-01"], pmops_service="other")})
    assert "web-01's vars" in topology.static_errors(STATIC, relabelled, ["web-01"])[0]
    assert topology.static_errors({"hosts": []}, hostvars, ["web-01"]) == [
        "pmops_topology: must be a mapping with 'hosts' (written by `pmops topology --write`)"]
