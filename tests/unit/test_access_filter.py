"""The access matrix filter: validation of bad matrices and the per-host plan."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest

from filter_plugins.pmops_access import LOGIN_GROUP, key_problem, pmops_access_errors, pmops_access_plan

HOSTS = ["web-01", "app-01", "db-01"]
GROUPS = ["all", "pmops", "web", "app", "db"]
TODAY = "2026-11-24"


def keypair(tmp: Path, name: str, *args: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", name, "-f", str(tmp / name), *args], check=True)
    return (tmp / f"{name}.pub").read_text().strip()


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("keys")
    return {
        "ed1": keypair(tmp, "ed1", "-t", "ed25519"),
        "ed2": keypair(tmp, "ed2", "-t", "ed25519"),
        "rsa": keypair(tmp, "rsa", "-t", "rsa", "-b", "3072"),
        "weak": keypair(tmp, "weak", "-t", "rsa", "-b", "2048"),
    }


@pytest.fixture
def matrix(keys) -> tuple[list, dict]:
    duties = {
        "ops_admin": {"hosts": ["pmops"], "sudo": "all", "groups": ["adm"]},
        "app_deployer": {"hosts": ["app", "web"], "sudo": ["/usr/bin/systemctl restart marketing-portal"]},
        "dba": {"hosts": ["db"], "sudo": [{"runas": "postgres", "command": "/usr/bin/psql"}]},
        "auditor": {"hosts": ["pmops"], "sudo": "none", "groups": ["adm", "systemd-journal"]},
    }
    people = [
        {"login": "li.wei", "uid": 2001, "name": "Li Wei", "duties": ["ops_admin"], "keys": [keys["ed1"], keys["rsa"]]},
        {"login": "zhang.min", "uid": 2002, "name": "Zhang Min", "duties": ["app_deployer"], "keys": [keys["ed2"]]},
        {"login": "wang.fang", "uid": 2003, "name": "Wang Fang", "duties": ["dba", "auditor"], "keys": [keys["ed1"]],
         "expires": "2027-06-30"},
        {"login": "chen.gone", "uid": 2004, "name": "Chen Gone", "duties": ["app_deployer"], "state": "absent",
         "purge": True},
    ]
    return people, duties


def errors(people, duties):
    return pmops_access_errors(people, duties, HOSTS, GROUPS, "pmops", today=TODAY)


def test_a_sound_matrix_has_no_errors(matrix):
    assert errors(*matrix) == []


BAD = [
    pytest.param(lambda p, d: p[1].update(duties=["app_deployr"]), "access_people[1] (zhang.min).duties: unknown duty app_deployr",
                 id="unknown-duty"),
    pytest.param(lambda p, d: p[1].update(uid=2001), "access_people[1] (zhang.min).uid: 2001 is already the uid of li.wei",
                 id="duplicate-uid"),
    pytest.param(lambda p, d: p[1].update(login="li.wei"), "access_people[1] (li.wei).login: duplicate of access_people[0]",
                 id="duplicate-login"),
    pytest.param(lambda p, d: p[1].update(keys=["ssh-ed25519 AAAAnotbase64!"]), "access_people[1] (zhang.min).keys[0]: is not valid base64",
                 id="malformed-key"),
    pytest.param(lambda p, d: p[1].update(keys=[p[1]["keys"][0].replace("ssh-ed25519", "ssh-rsa")]),
                 "says ssh-rsa but holds a ssh-ed25519 key", id="key-type-mismatch"),
    pytest.param(lambda p, d: p[1].update(keys=["from=\"10.0.0.1\" " + p[1]["keys"][0]]), "unknown type 'from=\"10.0.0.1\"'",
                 id="key-with-options"),
    pytest.param(lambda p, d: p[1].update(expires="2025-01-31"),
                 "access_people[1] (zhang.min).expires: 2025-01-31 is in the past; set state: absent", id="expiry-in-the-past"),
    pytest.param(lambda p, d: p[1].update(keys=[]), "access_people[1] (zhang.min).keys: a person who may log in needs at least one",
                 id="person-without-key"),
    pytest.param(lambda p, d: p[1].pop("keys"), "needs at least one SSH public key", id="person-without-keys-field"),
    pytest.param(lambda p, d: p.append({"login": "pmops", "uid": 2009, "name": "x", "duties": ["ops_admin"], "keys": p[0]["keys"]}),
                 "the automation account pmops cannot be managed by the access matrix", id="automation-account"),
    pytest.param(lambda p, d: p[1].update(uid=999), "uid: 999 must be a number from 1000", id="system-uid"),
    pytest.param(lambda p, d: p[1].update(login="root"), "root is a system account", id="reserved-login"),
    pytest.param(lambda p, d: d["dba"].update(hosts=["db-99"]), "access_duties.dba.hosts: db-99 is not a host or group",
                 id="duty-unknown-host"),
    pytest.param(lambda p, d: d["dba"].update(sudo=["psql"]), "access_duties.dba.sudo rule 'psql' must start with an absolute path",
                 id="sudo-relative-command"),
    pytest.param(lambda p, d: d["dba"].update(sudo=["/bin/sh -c a,b"]), "holds a character sudoers reads as syntax",
                 id="sudo-syntax"),
    pytest.param(lambda p, d: d["dba"].update(sudo="some"), "sudo must be 'all', 'none' or a non-empty list", id="sudo-word"),
    pytest.param(lambda p, d: p[1].update(state="gone"), "state: 'gone' must be one of present, absent", id="bad-state"),
    pytest.param(lambda p, d: p[1].update(keys=[p[1]["keys"][0], p[1]["keys"][0]]), "the same key is listed twice", id="same-key-twice"),
]


@pytest.mark.parametrize(("breaks", "message"), BAD)
def test_bad_matrices_are_refused_naming_the_entry(matrix, breaks, message):
    people, duties = copy.deepcopy(matrix)
    breaks(people, duties)
    found = errors(people, duties)
    assert any(message in e for e in found), found


def test_weak_rsa_and_dsa_keys_are_refused(keys):
    assert "2048-bit RSA key; at least 3072" in key_problem(keys["weak"])
    assert "DSA" in key_problem("ssh-dss AAAAB3NzaC1kc3MAAACBAP")
    assert key_problem(keys["rsa"]) is None and key_problem(keys["ed1"]) is None


def test_plan_for_an_app_host(matrix):
    people, duties = matrix
    plan = pmops_access_plan(people, duties, "app-01", ["pmops", "app"], today=TODAY)
    logins = {p["login"]: p for p in plan["present"]}
    assert sorted(logins) == ["li.wei", "wang.fang", "zhang.min"]
    assert logins["li.wei"]["keys"] == people[0]["keys"], "every key of a person, not only the last"
    assert logins["li.wei"]["groups"] == [LOGIN_GROUP, "duty-ops-admin", "adm"]
    assert logins["wang.fang"]["groups"] == [LOGIN_GROUP, "duty-auditor", "adm", "systemd-journal"], \
        "the auditor reaches every host; the dba duty only the db tier"
    assert {r["login"] for r in plan["revoke"]} == {"chen.gone"}
    assert {"login": "chen.gone", "purge": True} in plan["revoke"]
    assert plan["sudoers"] == {
        "app_deployer": ["%duty-app-deployer ALL=(root) NOPASSWD: /usr/bin/systemctl restart marketing-portal"],
        "ops_admin": ["%duty-ops-admin ALL=(ALL:ALL) NOPASSWD:EXEC: ALL"],
    }
    assert "auditor" not in plan["sudoers"], "a duty without sudo gets no sudoers file"


def test_plan_for_a_db_host_runs_as_postgres_and_keeps_the_expiry(matrix):
    people, duties = matrix
    plan = pmops_access_plan(people, duties, "db-01", ["pmops", "db"], today=TODAY)
    wang = next(p for p in plan["present"] if p["login"] == "wang.fang")
    assert wang["expires"] == "2027-06-30"
    assert wang["groups"] == [LOGIN_GROUP, "duty-auditor", "duty-dba", "adm", "systemd-journal"]
    assert plan["sudoers"]["dba"] == ["%duty-dba ALL=(postgres) NOPASSWD: /usr/bin/psql"]


def test_an_expired_person_is_revoked_by_the_plan(matrix):
    people, duties = matrix
    plan = pmops_access_plan(people, duties, "db-01", ["pmops", "db"], today="2027-07-01")
    assert "wang.fang" in {r["login"] for r in plan["revoke"]}


def test_people_with_sudo_rights_here_join_the_two_factor_group_and_auditors_do_not(matrix):
    people, duties = matrix
    plan = pmops_access_plan(people, duties, "app-01", ["pmops", "app"], today=TODAY, two_factor_group="pmops-2fa")
    logins = {p["login"]: p for p in plan["present"]}
    assert logins["li.wei"]["two_factor"] and "pmops-2fa" in logins["li.wei"]["groups"]
    assert logins["zhang.min"]["two_factor"], "a list of sudo commands is sudo rights too"
    assert not logins["wang.fang"]["two_factor"] and "pmops-2fa" not in logins["wang.fang"]["groups"], \
        "on app-01 wang.fang is only an auditor (no sudo)"
    assert "pmops-2fa" in plan["groups"]
    db = pmops_access_plan(people, duties, "db-01", ["pmops", "db"], today=TODAY, two_factor_group="pmops-2fa")
    assert next(p for p in db["present"] if p["login"] == "wang.fang")["two_factor"], "the dba duty has sudo on db-01"


def test_without_a_two_factor_group_nobody_joins_one(matrix):
    people, duties = matrix
    plan = pmops_access_plan(people, duties, "app-01", ["pmops", "app"], today=TODAY)
    assert not any(p["two_factor"] for p in plan["present"])
    assert plan["groups"] == [LOGIN_GROUP] + sorted(g for g in plan["groups"] if g.startswith("duty-"))
