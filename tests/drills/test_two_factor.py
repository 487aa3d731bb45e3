"""Two-factor drills (GB/T 22239 8.1.4.1 d) on a converged lab host: a person with sudo rights,
enrolled with `pmops otp enrol`, logs in with key and the current code (computed here from the
key the enrolment showed), the key alone and a wrong code are refused, the automation account
logs in with its key as before, and a broken one-time-password PAM setting is caught by the
canary login with nobody locked out."""

from __future__ import annotations

import re
import time

import drillkit
from drillkit import pmops
from pmops import totp

# web-01: zhang.min's app_deployer duty (sudo: restart the portal) reaches it; the web lane.
HOST = "web-01"
PERSON, KEY = "zhang.min", "zhang.min"


def with_code(secret: str | None, *command: str):
    """A fresh login as the person: their key, then secret's current code (None: the key alone)."""
    argv, env = drillkit.person_ssh(HOST, PERSON, KEY, code=False)
    if secret is not None:
        options, extra = totp.askpass(drillkit.ROOT / ".lab" / "tmp")
        argv = ["ssh"] + options + argv[1:]
        env = {**env, **extra, "PMOPS_OTP_CODE": secret}
    return drillkit.subprocess.run(argv + list(command), cwd=drillkit.ROOT, capture_output=True, text=True,
                                   timeout=60, env=env, stdin=drillkit.subprocess.DEVNULL)


def file_sum(path: str) -> str:
    proc = drillkit.sudo(HOST, "sha256sum", path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[0]


def test_an_enrolled_person_needs_key_and_code_and_the_automation_account_only_its_key():
    proc, _, out = pmops("otp", "enrol", PERSON, "--rotate", "-l", HOST)
    assert proc.returncode == 0, out[-3000:]
    shown = re.search(r"otpauth://totp/pmops:zhang\.min\?secret=([A-Z2-7]{16,})&", out)
    assert shown, out[-3000:]
    record = drillkit.run_log()[-1]
    assert (record["command"], record["result"], record["request"]) == \
        ("otp-enrol", "ok", {"otp_person": PERSON, "otp_rotate": True})
    kept = (drillkit.state_dir() / record["ansible_log"]).read_text()
    assert shown.group(1) not in kept, "the key was kept in the run's log"
    key = totp.secret_key(shown.group(1))
    # the code computed from the key the enrolment showed lets the person in, with their sudo rights
    login = with_code(totp.code(key), "sudo", "-n", "-l", "/usr/bin/systemctl", "restart", "marketing-portal")
    assert login.returncode == 0, login.stderr
    # the key alone, and a code of an hour from now, are refused
    alone = with_code(None, "id")
    assert alone.returncode == 255 and "Permission denied" in alone.stderr, alone.stderr
    wrong = with_code(totp.code(key, at=time.time() + 3600), "id")
    assert wrong.returncode == 255, wrong.stderr
    # the automation account: its key, no code, no prompt (BatchMode)
    auto = drillkit.ssh(HOST, "sudo", "-n", "id", "-un")
    assert auto.returncode == 0 and auto.stdout.strip() == "root", auto.stderr
    # enrolling again keeps the secret
    again, _, out = pmops("otp", "enrol", PERSON, "-l", HOST)
    assert again.returncode == 0 and "keeps the secret already enrolled on web-01" in " ".join(out.split()), out[-2000:]
    assert drillkit.run_log()[-1]["changed"] == {}


def test_a_broken_one_time_password_setting_is_caught_by_the_canary_and_nobody_is_locked_out():
    before = {path: file_sum(path) for path in ("/etc/pam.d/pmops-otp", "/etc/pam.d/sshd", "/etc/ssh/sshd_config")}
    # A plausible option (run the module as an unprivileged user) that leaves it unable to read
    # the root-only secrets, so every code is refused. PAM has no syntax check (and the module
    # ignores options it does not know); only a login through the candidate stack shows it.
    proc, _, out = drillkit.converge(limit=HOST, tags="ssh", extra={"ssh_two_factor_pam_options": ["user=nobody"]},
                                     timeout=300)
    assert proc.returncode != 0, out[-3000:]
    assert f"The two-factor canary login through a canary sshd with the new configuration failed on {HOST}" \
        in " ".join(out.split()), out[-3000:]
    assert {path: file_sum(path) for path in before} == before, "a live file changed"
    person = drillkit.ssh(HOST, "id", "-un", user=PERSON, key=KEY)
    assert person.returncode == 0 and person.stdout.strip() == PERSON, person.stderr
    assert drillkit.ssh(HOST, "sudo", "-n", "true").returncode == 0
    assert drillkit.ssh(HOST, "ss", "-Hltn", "sport", "=", ":2222").stdout.strip() == "", "the canary sshd was left running"
    assert drillkit.ssh(HOST, "test", "-e", "/etc/pam.d/sshd-pmops-canary").returncode == 1
