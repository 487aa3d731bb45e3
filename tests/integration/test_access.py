"""Access matrix on the hosts: who logs in where with which keys, and what sudo allows.

People and duties come from the inventory's access.yml (the one given to pytest with
--ansible-inventory). A person's private keys exist only for the lab (.lab/people); on real
servers the login half of a test is skipped and the accounts are checked instead.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ssh_command

from pmops import totp

ROOT = Path(__file__).resolve().parents[2]
LOGIN_GROUP = "pmops-people"
TWO_FACTOR_GROUP = "pmops-2fa"
OTP_DIR = "/var/lib/pmops-otp"
KEEP = {"README", "00-pmops-automation", "10-pmops-defaults"}


def matrix(config) -> dict:
    inventory = Path(config.getoption("ansible_inventory") or "inventory/lab")
    path = (ROOT / inventory if not inventory.is_absolute() else inventory) / "group_vars" / "all" / "access.yml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def pytest_generate_tests(metafunc):
    if "person" in metafunc.fixturenames:
        people = matrix(metafunc.config).get("access_people", [])
        metafunc.parametrize("person", people, ids=[p["login"] for p in people])


@pytest.fixture(scope="module")
def duties(request) -> dict:
    return matrix(request.config).get("access_duties", {})


def key_files(person: dict) -> list[Path]:
    """The lab's private key files of a person (one per key), when they exist."""
    names = [m.group(1) for k in person.get("keys", []) for m in [re.search(r"\.lab/people/([^']+)\.pub", k)] if m]
    return [ROOT / ".lab" / "people" / n for n in names if (ROOT / ".lab" / "people" / n).exists()]


def public_keys(person: dict) -> list[str]:
    out = []
    for key in person.get("keys", []):
        match = re.search(r"\.lab/people/([^']+)\.pub", key)
        out.append((ROOT / ".lab" / "people" / f"{match.group(1)}.pub").read_text().strip() if match else key)
    return out


def reach(person: dict, duties: dict, hostvars: dict) -> list[str]:
    here = {hostvars["inventory_hostname"], *hostvars.get("group_names", [])}
    if person.get("state", "present") != "present":
        return []
    return [d for d in person.get("duties", []) if here & set(duties[d]["hosts"])]


def otp_secret(host, login: str) -> str | None:
    """A person's one-time-password secret when sshd asks them for a code here (members of the
    two-factor group), enrolled on the host as `pmops otp enrol` would when they are not yet."""
    proc = host.run(totp.secret_shell(login, TWO_FACTOR_GROUP, OTP_DIR))
    if proc.rc == 3:
        return None
    assert proc.rc == 0, proc.stderr
    return proc.stdout.strip()


def login_as(host, hostvars: dict, person: dict, key: Path, *command: str) -> subprocess.CompletedProcess:
    """A fresh login as the person with one key, with the current one-time code when asked, on
    a terminal (-tt: sudo requires one, HARD-05)."""
    secret = otp_secret(host, person["login"])
    options, env = totp.askpass(ROOT / ".lab" / "tmp") if secret else ([], {})
    argv = ["ssh", "-tt"] + options + ssh_command({**hostvars, "ansible_ssh_private_key_file": str(key)}, person["login"],
                                                  "-o", "IdentitiesOnly=yes")[1:] + list(command)
    env = totp.with_code({**os.environ, **env}, secret) if secret else None
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)


def test_people_log_in_exactly_where_their_duties_reach(host, hostvars, person, duties):
    allowed = bool(reach(person, duties, hostvars))
    account = host.user(person["login"])
    if allowed:
        assert account.exists and account.uid == person["uid"]
        assert LOGIN_GROUP in account.groups
    files = key_files(person)
    if not files:
        pytest.skip("no private key of this person on the control node (real servers): accounts checked only")
    for key in files:
        proc = login_as(host, hostvars, person, key, "id", "-un")
        if allowed:
            assert proc.returncode == 0 and proc.stdout.strip() == person["login"], (key.name, proc.stderr)
        else:
            assert proc.returncode == 255, f"{person['login']} logged in with {key.name} but has no duty here"


def test_each_key_of_a_person_logs_in(host, hostvars, person, duties):
    """authorized_keys holds every key of the person, and nothing else."""
    if not reach(person, duties, hostvars):
        pytest.skip("no duty of this person reaches the host")
    path = f"/home/{person['login']}/.ssh/authorized_keys"
    lines = [line for line in host.file(path).content_string.splitlines() if line.strip() and not line.startswith("#")]
    blobs = sorted(line.split()[1] for line in lines)
    assert blobs == sorted(k.split()[1] for k in public_keys(person))


def test_sudo_allows_exactly_the_duty_commands(host, hostvars, person, duties):
    mine = reach(person, duties, hostvars)
    files = key_files(person)
    if not mine or not files:
        pytest.skip("no duty here, or no private key on the control node")
    sudo_all = any(duties[d].get("sudo") == "all" for d in mine)
    for duty in mine:
        sudo = duties[duty].get("sudo", "none")
        for rule in sudo if isinstance(sudo, list) else []:
            command = rule["command"] if isinstance(rule, dict) else rule
            runas = rule.get("runas", "root") if isinstance(rule, dict) else "root"
            if host.run(f"getent passwd {runas}").rc != 0:
                continue  # the service account comes with its role (postgres with the db tier's role)
            proc = login_as(host, hostvars, person, files[0], "sudo", "-n", "-u", runas, "-l", *command.split())
            assert proc.returncode == 0, f"{person['login']} may not run {command} as {runas}: {proc.stderr}"
    probe = login_as(host, hostvars, person, files[0], "sudo", "-n", "-l", "/bin/sh")
    assert (probe.returncode == 0) == sudo_all, f"{person['login']}: a shell as root must be {'allowed' if sudo_all else 'refused'}"


def test_no_unmanaged_sudoers_files(host, hostvars, duties):
    here = {hostvars["inventory_hostname"], *hostvars.get("group_names", [])}
    planned = {f"60-pmops-duty-{name}" for name, d in duties.items()
               if here & set(d["hosts"]) and d.get("sudo", "none") != "none"}
    present = set(host.check_output("ls -1 /etc/sudoers.d").split())
    assert present - KEEP == planned
    assert host.run("visudo -c").rc == 0


def test_revoked_people_are_locked(host, hostvars, duties, request):
    """Every member of the people group is someone the matrix lets onto this host; any other
    account in the people uid range is expired, without keys and without the group."""
    people = matrix(request.config).get("access_people", [])
    allowed = {p["login"] for p in people if reach(p, duties, hostvars)}
    group = host.run(f"getent group {LOGIN_GROUP}").stdout.strip()
    members = set(filter(None, group.split(":")[-1].split(","))) if group else set()
    assert members <= allowed
    for line in host.check_output("getent passwd").splitlines():
        login, _, uid = line.split(":")[:3]
        if 1000 <= int(uid) < 60000 and login not in allowed and login != hostvars.get("ansible_user"):
            expire = host.check_output(f"getent shadow {login}").split(":")[7]
            assert expire not in ("", None) and int(expire) <= 1, f"{login} is not locked"
            assert not host.file(f"/home/{login}/.ssh/authorized_keys").exists


def test_auditors_read_the_logs_without_sudo(host, hostvars, person, duties):
    """A duty with the adm and systemd-journal groups (the auditor) reads logs, and has no sudo."""
    mine = reach(person, duties, hostvars)
    extra = {g for d in mine for g in duties[d].get("groups", [])}
    files = key_files(person)
    if not {"adm", "systemd-journal"} <= extra or not files:
        pytest.skip("no log-reading duty here, or no private key on the control node")
    journal = login_as(host, hostvars, person, files[0], "journalctl", "--no-pager", "-q", "-n", "1", "_COMM=sshd")
    assert journal.returncode == 0, journal.stderr
    logs = login_as(host, hostvars, person, files[0], "test", "-r", "/var/log/auth.log")
    assert logs.returncode == 0, "the adm group reads /var/log"


def test_the_account_databases_are_consistent(host):
    """ACC-07 from the account files read here, by pmops comply's own function: every identity
    unique, every password shadowed and none empty, only root with uid or gid 0."""
    import sys
    sys.path.insert(0, str(ROOT))
    from module_utils.pmops_live_state import accounts
    from pmops.checks import account_databases

    state = accounts(*(host.file(f"/etc/{name}").content_string for name in ("passwd", "shadow", "group")))
    assert account_databases(state) == []


def test_every_account_that_can_log_in_is_known(host, hostvars, request):
    """Every account with a login, a password, uid 0 or a privileged group is root, the
    automation account, a system account or a person of the matrix (ACC-06): the same
    verdict as pmops comply's (pmops/checks.py), from the account files read here."""
    import sys
    sys.path.insert(0, str(ROOT))
    from module_utils.pmops_live_state import accounts
    from pmops.checks import unknown_accounts

    state = accounts(*(host.file(f"/etc/{name}").content_string for name in ("passwd", "shadow", "group")))
    state["authorized_keys"] = {}
    for name, acc in state["accounts"].items():
        keys = host.file(f"{acc['home']}/.ssh/authorized_keys")
        if acc["home"] and keys.exists:
            state["authorized_keys"][name] = [line for line in keys.content_string.splitlines() if line.strip()]
    people = matrix(request.config).get("access_people", [])
    wanted = {"access_wanted": {"automation_user": hostvars.get("ansible_user", "pmops"), "revoked": [],
                                "people": [{"login": p["login"]} for p in people]}}
    assert unknown_accounts(wanted, {"accounts": state}) == []


def test_homes_of_accounts_that_log_in_are_private_without_forwarding_files(host):
    """ACC-07 (CIS 7.2.9-7.2.10, ANSSI BP-028): each home is its account's and 0700, no .forward,
    .rhosts or .netrc, no dot file writable by the group or others."""
    import sys
    sys.path.insert(0, str(ROOT))
    from module_utils.pmops_live_state import NOLOGIN_SHELLS, parse_passwd

    shells = {line.strip() for line in host.file("/etc/shells").content_string.splitlines() if line.startswith("/")}
    for acc in parse_passwd(host.file("/etc/passwd").content_string):
        if acc["shell"] in NOLOGIN_SHELLS or acc["shell"] not in shells or not acc["home"] or 0 < acc["uid"] < 1000:
            continue
        home = host.file(acc["home"])
        assert home.is_directory and home.user == acc["name"] and not home.mode & 0o077, acc["name"]
        dots = host.check_output(f"find {acc['home']} -maxdepth 1 -name '.*' -type f -printf '%m %f\\n'").splitlines()
        assert [d for d in dots if d.split()[1] in (".forward", ".rhosts", ".netrc") or int(d.split()[0], 8) & 0o022] == []


def test_system_accounts_have_no_login_shell(host):
    """ACC-06 (CIS 5.4.2.7): below UID_MIN only root, sync, shutdown and halt keep a shell."""
    import sys
    sys.path.insert(0, str(ROOT))
    from module_utils.pmops_live_state import NOLOGIN_SHELLS, parse_passwd

    shells = [a["name"] for a in parse_passwd(host.file("/etc/passwd").content_string)
              if a["uid"] < 1000 and a["shell"] not in NOLOGIN_SHELLS and a["name"] not in ("root", "sync", "shutdown", "halt")]
    assert shells == []


def test_people_get_the_private_umask(host, hostvars, person, duties):
    """HARD-04 (ANSSI R36): a person's own login shell makes files only they can read."""
    files = key_files(person)
    if not reach(person, duties, hostvars) or not files:
        pytest.skip("no login here, or no key of this person on the control node")
    proc = login_as(host, hostvars, person, files[0], "bash", "-lc", "umask")
    assert proc.returncode == 0 and proc.stdout.strip() == "0" + str(hostvars.get("hardening_umask_people", "077")).rjust(3, "0")
