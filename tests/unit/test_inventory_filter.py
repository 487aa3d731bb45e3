"""pmops_inventory_errors: every kind of bad inventory gets a message naming the variable."""

import copy

import pytest
from ansible.errors import AnsibleFilterError

from pmops_inventory import FilterModule, is_ntp_host, pmops_inventory_errors

TIERS = ["web", "app", "db", "backup", "monitor"]
SPECS = {"baseline": {
    "baseline_timezone": {"type": "str"},
    "baseline_ntp_servers": {"type": "list", "elements": "str"},
    "baseline_ntp_pools": {"type": "list", "elements": "str"},
    "baseline_journald_storage": {"type": "str", "choices": ["persistent", "volatile"]},
    "baseline_apt_cache_valid_time": {"type": "int"},
}}


def good_host(group="web", address="10.0.0.11"):
    return {
        "group_names": [group],
        "ansible_user": "pmops",
        "ansible_host": address,
        "pmops_environment": "lab",
        "pmops_owner": "ops@example.invalid",
        "pmops_service": "marketing-web",
        "pmops_domain": "lab.example.invalid",
        "baseline_timezone": "Asia/Shanghai",
        "baseline_ntp_servers": ["ntp.ntsc.ac.cn", "10.0.0.1"],
    }


def run(hostvars, tiers=TIERS):
    return pmops_inventory_errors(hostvars, list(hostvars), tiers, SPECS)


def test_good_inventory_has_no_errors():
    assert run({"web-01": good_host(), "db-01": good_host("db", "10.0.0.31")}) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"group_names": ["web", "db"]}, "web-01: groups: host is in 2 tiers (web, db)"),
        ({"group_names": ["pmops"]}, "web-01: groups: host is in no tier"),
        ({"ansible_user": "root"}, "web-01: ansible_user: is root"),
        ({"ansible_user": None}, "web-01: ansible_user: is not set"),
        ({"pmops_environment": "prod"}, "web-01: pmops_environment: is 'prod'"),
        ({"pmops_owner": ""}, "web-01: pmops_owner: must be a non-empty string"),
        ({"pmops_domain": "bad domain"}, "web-01: pmops_domain: 'bad domain' is not a DNS domain"),
        ({"ansible_host": "web-01.example"}, "web-01: ansible_host: 'web-01.example' is not an IP address"),
        ({"pmops_address": "nope"}, "web-01: pmops_address: 'nope' is not an IP address"),
        ({"baseline_timezone": "Mars/Olympus_Mons"}, "web-01: baseline_timezone: 'Mars/Olympus_Mons' is not an IANA time zone"),
        ({"baseline_timezone": 8}, "web-01: baseline_timezone: 8 is not an IANA time zone"),
        ({"baseline_ntp_servers": "ntp1.example ntp2.example"},
         "web-01: baseline_ntp_servers: must be a list of host names or addresses, not str"),
        ({"baseline_ntp_servers": ["10.0.0.1 iburst"]},
         "web-01: baseline_ntp_servers: entries ['10.0.0.1 iburst'] are not host names or IP addresses"),
        ({"baseline_ntp_servers": ["ntp://time.example"]}, "are not host names or IP addresses"),
        ({"baseline_ntp_servers": [], "baseline_ntp_pools": []},
         "web-01: baseline_ntp_servers: and baseline_ntp_pools are both empty"),
        ({"baseline_ntp_server": ["x"]},
         "web-01: baseline_ntp_server: is not an input of any role; did you mean baseline_ntp_servers?"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_bad_host_is_named_with_its_variable(change, expected):
    host = good_host()
    host.update(change)
    errors = run({"web-01": host})
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize("missing", ["pmops_environment", "pmops_owner", "pmops_service", "pmops_domain", "ansible_host"])
def test_missing_required_variable_is_named(missing):
    host = good_host()
    del host[missing]
    errors = run({"web-01": host})
    assert any(e.startswith(f"web-01: {missing}: ") for e in errors), errors


def test_duplicate_address_names_both_hosts():
    errors = run({"web-01": good_host(), "db-01": good_host("db", "10.0.0.11")})
    assert errors == ["web-01: ansible_host: address 10.0.0.11 is also db-01's"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"baseline_journald_storage": "forever"},
         "web-01: baseline_journald_storage: value of baseline_journald_storage must be one of: persistent, volatile, got: forever"),
        ({"baseline_apt_cache_valid_time": "soon"},
         "web-01: baseline_apt_cache_valid_time: argument 'baseline_apt_cache_valid_time' is of type str and we were unable to convert to int"),
    ],
)
def test_role_inputs_are_checked_against_argument_specs(change, expected):
    host = good_host()
    host.update(change)
    errors = run({"web-01": host})
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_templated_default_of_an_input_the_host_does_not_set_is_not_checked():
    """The production inventory leaves postgresql_memory_mb to its default, a template of the
    host's memory: only what a host sets is checked (this refused production before)."""
    specs = dict(SPECS, postgresql={"postgresql_memory_mb": {"type": "int", "default": "{{ ansible_facts['memtotal_mb'] }}"}})
    assert pmops_inventory_errors({"web-01": good_host()}, ["web-01"], TIERS, specs) == []
    bad = dict(good_host(), postgresql_memory_mb="lots")
    assert pmops_inventory_errors({"web-01": bad}, ["web-01"], TIERS, specs)[0].startswith(
        "web-01: postgresql_memory_mb: argument 'postgresql_memory_mb' is of type str")


def test_a_group_fault_is_reported_once_for_all_hosts():
    hosts = {f"web-0{i}": dict(good_host(address=f"10.0.0.{i}"), pmops_owner="") for i in range(1, 4)}
    assert run(hosts) == ["all 3 hosts: pmops_owner: must be a non-empty string, not ''"]


def test_role_defaults_count_as_time_sources():
    host = good_host()
    del host["baseline_ntp_servers"]
    assert run({"web-01": host}) == []


def test_errors_are_sorted_by_host():
    bad = copy.deepcopy(good_host())
    bad["ansible_user"] = "root"
    errors = run({"z-01": bad, "a-01": dict(bad, ansible_host="10.0.0.12", pmops_owner=""),
                  "m-01": good_host(address="10.0.0.13")})
    assert [e.split(":")[0] for e in errors] == ["a-01, z-01", "a-01"]


def test_empty_tiers_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="tiers must be a non-empty list"):
        pmops_inventory_errors({}, [], [])


def test_unknown_host_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="no variables for host 'ghost'"):
        pmops_inventory_errors({}, ["ghost"], TIERS)


@pytest.mark.parametrize("value", ["ntp.ntsc.ac.cn", "10.1.2.3", "fd00::1", "time-1.example.org."])
def test_ntp_host_accepts(value):
    assert is_ntp_host(value)


@pytest.mark.parametrize("value", ["", "a b", "ntp:123", "http://x", "-bad.example", None, 3])
def test_ntp_host_refuses(value):
    assert not is_ntp_host(value)


def test_filter_is_registered():
    assert FilterModule().filters()["pmops_inventory_errors"] is pmops_inventory_errors
