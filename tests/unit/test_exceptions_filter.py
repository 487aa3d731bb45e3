"""The exceptions register: refused without reason, owner or expiry; waivers per host."""

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from pmops_exceptions import FilterModule, pmops_exception_errors, pmops_expired_exceptions, pmops_waivers

IDS = ["SSH-01", "SSH-05"]
HOSTS = ["web-01", "backup-01"]
GROUPS = ["all", "pmops", "web", "backup"]


def entry(**change):
    base = {"control": "SSH-05", "groups": ["backup"], "reason": "vendor migration",
            "owner": "ops@example.cn", "ticket": "CHG-1", "expires": "2027-03-31"}
    base.update(change)
    return {k: v for k, v in base.items() if v is not None}


def check(*entries):
    return pmops_exception_errors(list(entries), IDS, HOSTS, GROUPS)


def test_a_sound_register_has_no_errors():
    assert check(entry(), entry(control="SSH-01", groups=None, hosts=["web-01"], expires=datetime.date(2027, 1, 1))) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"reason": None}, "pmops_exceptions[1] (SSH-05): reason: is required"),
        ({"reason": "  "}, "reason: is required"),
        ({"owner": None}, "pmops_exceptions[1] (SSH-05): owner: is required"),
        ({"expires": None}, "pmops_exceptions[1] (SSH-05): expires: is required (YYYY-MM-DD)"),
        ({"expires": "next spring"}, "expires: 'next spring' is not a date"),
        ({"control": None}, "pmops_exceptions[1]: control: is required"),
        ({"control": "SSH-99"}, "control: 'SSH-99' is not in controls/catalogue.yml"),
        ({"groups": None}, "hosts or groups: name the hosts or groups"),
        ({"groups": ["dba"]}, "groups: 'dba' is not in the inventory"),
        ({"hosts": ["db-09"]}, "hosts: 'db-09' is not in the inventory"),
        ({"groups": "backup"}, "hosts and groups must be lists"),
    ],
)
def test_a_bad_exception_is_refused_with_the_field_named(change, expected):
    errors = check(entry(**change))
    assert any(expected in e for e in errors), errors


def test_the_register_must_be_a_list():
    assert pmops_exception_errors({"control": "SSH-01"}, IDS, HOSTS, GROUPS) == [
        "pmops_exceptions: must be a list of exceptions, not dict"]
    assert pmops_exception_errors(None, IDS, HOSTS, GROUPS) == []


def test_waivers_cover_the_hosts_of_a_group_until_expiry():
    register = [entry()]
    assert pmops_waivers(register, "backup-01", ["pmops", "backup"], "2027-03-31")["SSH-05"]["status"] == "waived"
    assert pmops_waivers(register, "backup-01", ["pmops", "backup"], "2027-04-01")["SSH-05"]["status"] == "expired"
    assert pmops_waivers(register, "web-01", ["pmops", "web"], "2027-01-01") == {}


def test_the_longest_lasting_of_two_waivers_wins():
    register = [entry(expires="2026-01-01"), entry(hosts=["backup-01"], groups=None, expires="2028-01-01")]
    waiver = pmops_waivers(register, "backup-01", ["backup"], "2027-01-01")["SSH-05"]
    assert waiver == {"status": "waived", "reason": "vendor migration", "owner": "ops@example.cn",
                      "ticket": "CHG-1", "expires": "2028-01-01"}


def test_expired_entries_are_listed():
    register = [entry(expires="2026-11-23"), entry(control="SSH-01", expires="2026-11-24")]
    assert [e["control"] for e in pmops_expired_exceptions(register, "2026-11-24")] == ["SSH-05"]


def test_a_bad_today_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="today must be a date"):
        pmops_waivers([], "h", [], "soon")


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"pmops_exception_errors", "pmops_waivers", "pmops_expired_exceptions"}
