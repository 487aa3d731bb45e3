"""SSH hardening: the effective sshd configuration (sshd -T), host keys, and real logins."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, ssh_command


@pytest.fixture(scope="module")
def sshd_t(host) -> dict:
    out = host.check_output("/usr/sbin/sshd -T")
    config: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        config.setdefault(key.lower(), []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in config.items()}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("permitrootlogin", "no"),
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("permitemptypasswords", "no"),
        ("pubkeyauthentication", "yes"),
        ("hostbasedauthentication", "no"),
        ("ignorerhosts", "yes"),
        ("gssapiauthentication", "no"),
        ("x11forwarding", "no"),
        ("allowtcpforwarding", "no"),
        ("allowagentforwarding", "no"),
        ("permittunnel", "no"),
        ("permituserenvironment", "no"),
        ("usepam", "yes"),
        ("banner", "/etc/issue.net"),
    ],
)
def test_effective_setting(sshd_t, key, expected):
    assert sshd_t[key] == expected


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("kexalgorithms", "ssh_kex_algorithms"),
        ("ciphers", "ssh_ciphers"),
        ("macs", "ssh_macs"),
        ("hostkeyalgorithms", "ssh_host_key_algorithms"),
        ("pubkeyacceptedalgorithms", "ssh_pubkey_accepted_algorithms"),
    ],
)
def test_effective_algorithms_are_exactly_the_wanted_ones(sshd_t, ssh_role, key, variable):
    assert sshd_t[key] == ",".join(ssh_role[variable])


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("maxauthtries", "ssh_max_auth_tries"),
        ("logingracetime", "ssh_login_grace_time"),
        ("clientaliveinterval", "ssh_client_alive_interval"),
        ("clientalivecountmax", "ssh_client_alive_count_max"),
        ("maxsessions", "ssh_max_sessions"),
        ("maxstartups", "ssh_max_startups"),
    ],
)
def test_effective_limits(sshd_t, ssh_role, key, variable):
    assert sshd_t[key] == str(ssh_role[variable])


def test_logins_are_logged_and_go_through_pam(sshd_t, ssh_role):
    assert sshd_t["loglevel"] == ssh_role["ssh_log_level"] and sshd_t["loglevel"] in ("INFO", "VERBOSE")
    assert sshd_t["usepam"] == "yes"


def test_max_auth_tries_leaves_room_for_an_agent_with_several_keys(sshd_t):
    assert int(sshd_t["maxauthtries"]) >= 4


def test_allow_groups_admit_the_automation_account(host, sshd_t, ssh_role, hostvars):
    if not ssh_role["ssh_allow_groups"]:
        pytest.skip("no AllowGroups set")
    allowed = sshd_t["allowgroups"] if isinstance(sshd_t["allowgroups"], list) else sshd_t["allowgroups"].split()
    two_factor = [ssh_role["ssh_two_factor_group"]] if ssh_role["ssh_two_factor_enabled"] and ssh_role["ssh_two_factor_group"] else []
    assert allowed == ssh_role["ssh_allow_groups"] + two_factor
    user = hostvars.get("ansible_user") or "root"
    assert set(allowed) & set(host.user(user).groups) or user == "root"


def authentication_methods(host, user: str) -> str:
    out = host.check_output(f"/usr/sbin/sshd -T -C user={user},host=localhost,addr=127.0.0.1")
    return next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("authenticationmethods "))


def test_members_of_the_two_factor_group_need_key_and_code_and_the_automation_account_its_key(host, ssh_role, hostvars):
    """ACC-08 (GB/T 22239 8.1.4.1 d) as sshd and PAM have it in force."""
    group = ssh_role["ssh_two_factor_group"]
    if not ssh_role["ssh_two_factor_enabled"] or not group:
        pytest.skip("two factors turned off")
    members = [m for m in host.group(group).members] if host.group(group).exists else []
    assert hostvars.get("ansible_user", "pmops") not in members
    for member in members:
        assert authentication_methods(host, member) == "publickey,keyboard-interactive:pam", member
    assert authentication_methods(host, hostvars.get("ansible_user", "pmops")) == "any"
    pam = [line.split() for line in host.file("/etc/pam.d/sshd").content_string.splitlines()
           if line.startswith("@include")]
    assert pam.index(["@include", "pmops-otp"]) < pam.index(["@include", "common-auth"])
    otp = host.file("/etc/pam.d/pmops-otp").content_string
    assert f"pam_google_authenticator.so secret={ssh_role['ssh_two_factor_secret_dir']}/${{USER}} user=root" in otp
    secrets = host.file(ssh_role["ssh_two_factor_secret_dir"])
    assert (secrets.user, secrets.group, secrets.mode) == ("root", "root", 0o700)


def test_only_the_wanted_host_keys_exist(host, ssh_role):
    for key_type in ("dsa", "ecdsa", "ed25519", "rsa"):
        assert host.file(f"/etc/ssh/ssh_host_{key_type}_key").exists == (key_type in ssh_role["ssh_host_key_types"])


def test_sshd_config_is_root_owned_and_not_writable_by_others(host):
    config = host.file("/etc/ssh/sshd_config")
    assert config.user == "root" and config.mode & 0o077 == 0  # CIS 5.1.1: 0600


@pytest.fixture
def lab_only(over_ssh):
    if not over_ssh:
        pytest.skip("needs a host reached over SSH (the lab or real servers)")


def test_ssh_audit_finds_no_fail_and_no_warn(hostvars, lab_only):
    # beside this interpreter (a virtualenv), or on PATH (an execution environment's pip puts it
    # in /usr/local/bin, beside no interpreter)
    audit = Path(sys.executable).parent / "ssh-audit"
    audit = audit if audit.exists() else Path(shutil.which("ssh-audit") or audit)
    proc = subprocess.run([str(audit), "-n", hostvars["ansible_host"]], capture_output=True, text=True, timeout=60)
    findings = [line for line in proc.stdout.splitlines() if "[fail]" in line or "[warn]" in line]
    assert findings == []


def test_a_fresh_login_as_the_automation_account_works(hostvars, lab_only):
    proc = subprocess.run(ssh_command(hostvars) + ["sudo", "-n", "true"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_root_login_is_refused(hostvars, lab_only):
    proc = subprocess.run(ssh_command(hostvars, "root") + ["true"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 255
    assert "Permission denied" in proc.stderr


def test_password_login_is_refused_the_server_offers_only_keys(hostvars, lab_only):
    argv = ssh_command(hostvars, None, "-o", "PubkeyAuthentication=no",
                       "-o", "PreferredAuthentications=password,keyboard-interactive")
    proc = subprocess.run(argv + ["true"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 255
    assert "Permission denied (publickey)" in proc.stderr
