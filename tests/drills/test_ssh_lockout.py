"""Lockout drills on a converged lab host: each bad change fails clearly and locks nobody out.

Each drill runs the real site.yml (--tags ssh, or --tags hardening_pam for PAM) on one host
with a harmful extra variable, then proves with a fresh SSH connection (no reused master)
that the automation account still logs in and that the live file did not change.
"""

from __future__ import annotations

import subprocess

import pytest

import drillkit

# monitor-01: the lane of the backup and access drills has time to spare, and no drill of the
# other lane (web-01) reaches this host's sshd (tests/drills/conftest.py)
HOST = "monitor-01"


def fresh_ssh(*command: str) -> subprocess.CompletedProcess:
    """pmops's own fresh login: host key checking on, no reused master connection."""
    return drillkit.ssh(HOST, *command, timeout=60)


def file_sum(path: str) -> str:
    proc = fresh_ssh("sudo", "-n", "sha256sum", path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[0]


def converge(extra: dict, tags: str = "ssh") -> subprocess.CompletedProcess:
    return drillkit.converge(limit=HOST, tags=tags, extra=extra, timeout=300)[0]


SSHD = ("ssh", "/etc/ssh/sshd_config")
PAM = ("hardening_pam", "/etc/pam.d/common-account")


DRILLS = [
    pytest.param({"ssh_ciphers": ["no-such-cipher"]}, SSHD,
                 f"sshd rejects the new configuration on {HOST}", id="invalid-config"),
    pytest.param({"ssh_allow_groups": ["wheel"]}, SSHD,
                 "would shut out the automation account pmops", id="allowgroups-excludes-automation"),
    pytest.param({"ssh_allow_users": ["alice"]}, SSHD,
                 "would shut out the automation account pmops", id="allowusers-excludes-automation"),
    # Valid for sshd -t, yet the automation account's ed25519 key is no longer accepted:
    # only the canary login can catch this one.
    pytest.param({"ssh_pubkey_accepted_algorithms": ["rsa-sha2-512"]}, SSHD,
                 f"A fresh login as pmops through a canary sshd running the new configuration\nfailed on {HOST}",
                 id="valid-config-that-locks-out"),
    # A broken PAM setting: a login access table that admits only root from the console.
    # PAM has no syntax check; the canary login through the candidate stacks catches it.
    pytest.param({"hardening_login_access": [{"permission": "+", "users": ["root"], "origins": ["LOCAL"]},
                                             {"permission": "-", "users": ["ALL"], "origins": ["ALL"]}]}, PAM,
                 f"A fresh login as pmops through a canary sshd using the new PAM stacks failed on {HOST}",
                 id="pam-access-table-that-locks-out"),
]


@pytest.mark.parametrize(("extra", "target", "message"), DRILLS)
def test_lockout_drill(extra, target, message):
    tags, live_file = target
    before = file_sum(live_file)
    proc = converge(extra, tags)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert " ".join(message.split()) in " ".join(out.split()), out
    login = fresh_ssh("sudo", "-n", "id", "-un")
    assert login.returncode == 0 and login.stdout.strip() == "root", login.stderr
    assert file_sum(live_file) == before
    # No canary is left behind: nothing on the canary port, no canary PAM service.
    listening = fresh_ssh("ss", "-Hltn", "sport", "=", ":2222")
    assert listening.returncode == 0 and listening.stdout.strip() == ""
    assert fresh_ssh("test", "-e", "/etc/pam.d/sshd-pmops-canary").returncode == 1


def test_the_good_configuration_still_converges_without_change():
    proc = converge({})
    assert proc.returncode == 0, proc.stdout
    assert "changed=0" in proc.stdout
