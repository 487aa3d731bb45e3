"""Bad inventories are refused by the first play, before any host is contacted.

Each case copies inventory/lab, breaks one thing, and runs the real site.yml against it.
The run must fail in "Validate the toolchain and the inventory", name the variable, and
never reach a play that connects to a host (no "Gathering Facts", no recap with ok > 1).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def run_playbook(inventory: Path, playbook: str = "playbooks/site.yml", *extra: str):
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), playbook, *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def inventory(tmp_path):
    dest = tmp_path / "lab"
    shutil.copytree(ROOT / "inventory" / "lab", dest)
    return dest


def edit(path: Path, change):
    data = yaml.safe_load(path.read_text()) or {}
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_the_lab_inventory_itself_passes_validation(inventory):
    proc = run_playbook(inventory, "playbooks/validate.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def host_in_two_tiers(inv):
    edit(inv / "hosts.yml", lambda d: d["pmops"]["children"]["db"]["hosts"].update({"web-01": None}))


def invalid_timezone(inv):
    edit(inv / "group_vars/all/baseline.yml", lambda d: d.update(baseline_timezone="Asia/Beijing"))


def missing_owner(inv):
    edit(inv / "group_vars/all/environment.yml", lambda d: d.pop("pmops_owner"))


def ntp_list_is_a_string(inv):
    edit(inv / "group_vars/all/baseline.yml", lambda d: d.update(baseline_ntp_servers="10.89.30.1 iburst"))


def ntp_entry_with_option(inv):
    edit(inv / "group_vars/all/baseline.yml", lambda d: d.update(baseline_ntp_servers=["10.89.30.1 iburst"]))


def connects_as_root(inv):
    edit(inv / "group_vars/all/connection.yml", lambda d: d.update(ansible_user="root"))


def misspelt_variable(inv):
    edit(inv / "group_vars/all/baseline.yml", lambda d: d.update(baseline_timezon="UTC"))


def wrong_choice(inv):
    edit(inv / "group_vars/all/baseline.yml", lambda d: d.update(baseline_journald_storage="forever"))


def duplicate_address(inv):
    edit(inv / "hosts.yml", lambda d: d["pmops"]["children"]["app"]["hosts"]["app-02"].update(ansible_host="10.89.30.21"))


def exception_without_owner(inv):
    edit(inv / "group_vars/all/exceptions.yml", lambda d: d.update(pmops_exceptions=[
        {"control": "SSH-05", "groups": ["backup"], "reason": "vendor migration", "expires": "2027-03-31"}]))


def exception_for_unknown_control(inv):
    edit(inv / "group_vars/all/exceptions.yml", lambda d: d.update(pmops_exceptions=[
        {"control": "SSH-99", "hosts": ["web-01"], "reason": "r", "owner": "o", "expires": "2027-03-31"}]))


def access_unknown_duty(inv):
    edit(inv / "group_vars/all/access.yml", lambda d: d["access_people"][1].update(duties=["app_deployr"]))


def access_names_the_automation_account(inv):
    edit(inv / "group_vars/all/access.yml", lambda d: d["access_people"].append(
        dict(d["access_people"][0], login="pmops", uid=2999)))


def access_duplicate_uid(inv):
    edit(inv / "group_vars/all/access.yml", lambda d: d["access_people"][2].update(uid=2001))


def release_not_built(inv):
    edit(inv / "group_vars/all/marketing.yml", lambda d: d.update(app_version="9.9.9"))


def database_open_to_any(inv):
    edit(inv / "group_vars/all/marketing.yml", lambda d: d["postgresql_roles"][0].update({"from": ["any"]}))


def host_moved_without_its_topology(inv):
    edit(inv / "hosts.yml", lambda d: d["pmops"]["children"]["app"]["hosts"]["app-02"].update(ansible_host="10.89.30.29"))


CASES = [
    (host_in_two_tiers, r"web-01: groups: host is in 2 tiers \(web, db\)"),
    (invalid_timezone, r"baseline_timezone: 'Asia/Beijing' is not an IANA time zone"),
    (missing_owner, r"pmops_owner: is required and not set"),
    (ntp_list_is_a_string, r"baseline_ntp_servers: must be a list of host names or addresses"),
    (ntp_entry_with_option, r"baseline_ntp_servers: entries \['10.89.30.1 iburst'\] are not host names"),
    (connects_as_root, r"ansible_user: is root"),
    (misspelt_variable, r"baseline_timezon: is not an input of any role; did you mean baseline_timezone\?"),
    (wrong_choice, r"baseline_journald_storage.*(must be one of|choices)"),
    (exception_without_owner, r"pmops_exceptions\[1\] \(SSH-05\): owner: is required"),
    (exception_for_unknown_control, r"control: 'SSH-99' is not in controls/catalogue.yml"),
    (access_unknown_duty, r"access_people\[1\] \(zhang.min\).duties: unknown duty app_deployr"),
    (access_names_the_automation_account, r"the automation account pmops cannot be managed by the access matrix"),
    (access_duplicate_uid, r"access_people\[2\] \(wang.fang\).uid: 2001 is already the uid of li.wei"),
    (release_not_built, r"app_version: release 9.9.9 has no manifest in apps/marketing-portal/dist"),
    (database_open_to_any, r"postgresql_roles\[0\] \(marketing_portal\).from: 'any' is refused"),
    (host_moved_without_its_topology,
     r"pmops_topology: app-02's address is '10.89.30.22' there but '10.89.30.29' in the inventory"),
    (duplicate_address, r"app-01: ansible_host: address 10.89.30.21 is also app-02's|app-02.*10.89.30.21"),
]


# The first case runs the whole site.yml (about 25 s here: every play is loaded); the others
# run its first play, validate.yml, alone (about 4 s), which is the same validation: every
# playbook that changes hosts starts with it (test_every_playbook_that_changes_hosts_validates_first).
@pytest.mark.parametrize(("breakage", "message", "playbook"),
                         [(b, m, "playbooks/site.yml" if n == 0 else "playbooks/validate.yml")
                          for n, (b, m) in enumerate(CASES)], ids=[c[0].__name__ for c in CASES])
def test_bad_inventory_is_refused_before_any_change(inventory, breakage, message, playbook):
    breakage(inventory)
    proc = run_playbook(inventory, playbook)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert re.search(message, out), out
    # Nothing reached a host: the baseline play never started and no facts were gathered.
    assert "Baseline of every marketing server" not in out
    assert "Gathering Facts" not in out
    assert not re.search(r"changed=[1-9]", out)


ENTRY_POINTS = ["site.yml", "deploy.yml", "rollback.yml", "patch.yml", "restore.yml", "restore-drill.yml",
                "backup-now.yml"]


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_playbook_that_changes_hosts_validates_first(name):
    first = yaml.safe_load((ROOT / "playbooks" / name).read_text())[0]
    assert first.get("ansible.builtin.import_playbook") == "validate.yml", f"{name} must start with validate.yml"


def test_a_fault_outside_the_limit_still_stops_the_run(inventory):
    # /etc/hosts on every host is built from all hosts, so the whole inventory must be sound.
    invalid_timezone(inventory)
    proc = run_playbook(inventory, "playbooks/site.yml", "--limit", "db")
    assert proc.returncode != 0
    assert "baseline_timezone: 'Asia/Beijing' is not an IANA time zone" in proc.stdout
    assert "Gathering Facts" not in proc.stdout


def test_an_expired_exception_is_warned_about_and_the_run_goes_on(inventory):
    edit(inventory / "group_vars/all/exceptions.yml", lambda d: d.update(pmops_exceptions=[
        {"control": "SSH-05", "groups": ["backup"], "reason": "vendor migration", "owner": "ops@example.cn",
         "ticket": "CHG-1", "expires": "2020-01-31"}]))
    proc = run_playbook(inventory, "playbooks/validate.yml")
    assert proc.returncode == 0, proc.stdout
    assert ("WARNING: exception for SSH-05 (backup, owner ops@example.cn, ticket CHG-1) expired on 2020-01-31"
            in " ".join(proc.stdout.split()))
