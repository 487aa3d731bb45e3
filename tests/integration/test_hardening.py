"""OS hardening: kernel parameters, PAM, login.defs, core dumps, shells, sudo, cron, banners,
modules, files, auditd, AIDE, process accounting, services and log forwarding."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
import testinfra
import yaml

ROLE_VARS = yaml.safe_load((Path(__file__).resolve().parents[2] / "roles/hardening/vars/main.yml").read_text())
TIERS = ["web", "app", "db", "backup", "monitor"]


@pytest.fixture(scope="module")
def profile(hostvars, hardening) -> dict:
    """The host profile the role applies: hardening_profile, else the host's tier."""
    name = hostvars.get("hardening_profile")
    if not name or "{{" in str(name):
        name = next((g for g in TIERS if g in hostvars.get("group_names", [])), "none")
    return ROLE_VARS["__hardening_profiles"][name]


@pytest.fixture(scope="module")
def sysctl_wanted(hardening, profile) -> dict:
    return dict(hardening["hardening_sysctl"], **profile["sysctl"], **hardening["hardening_sysctl_overrides"])


def test_kernel_parameters_file_holds_every_parameter(host, sysctl_wanted):
    content = host.file("/etc/sysctl.d/60-pmops-hardening.conf").content_string
    for key, value in sysctl_wanted.items():
        assert f"{key} = {value}\n" in content + "\n"


def test_kernel_parameters_are_live_outside_containers(host, sysctl_wanted, in_container):
    if in_container:
        pytest.skip("not applicable: a container shares its host's kernel (the role reports HARD-01 so)")
    for key, value in sysctl_wanted.items():
        assert str(host.sysctl(key)) == str(value), key


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("PASS_MAX_DAYS", "hardening_password_max_days"),
        ("PASS_MIN_DAYS", "hardening_password_min_days"),
        ("PASS_WARN_AGE", "hardening_password_warn_age"),
        ("ENCRYPT_METHOD", "hardening_encrypt_method"),
        ("UMASK", "hardening_umask"),
        ("HOME_MODE", "hardening_home_mode"),
        ("YESCRYPT_COST_FACTOR", "hardening_password_hash_cost"),
    ],
)
def test_login_defs(host, hardening, key, variable):
    values = dict(line.split(None, 1) for line in host.file("/etc/login.defs").content_string.splitlines()
                  if line.strip() and not line.startswith("#"))
    assert values[key].strip() == str(hardening[variable])


def test_core_dumps_are_off(host):
    assert "* hard core 0" in " ".join(host.file("/etc/security/limits.d/60-pmops-core.conf").content_string.split())
    assert "Storage=none" in host.file("/etc/systemd/coredump.conf.d/60-pmops.conf").content_string


def test_login_shells_get_the_umask_and_idle_timeout(host, hardening):
    out = host.check_output("bash -lc 'umask; echo $TMOUT; readonly -p | grep -c TMOUT'").split()
    assert out[0] == "0" + str(hardening["hardening_umask"]).lstrip("0").rjust(3, "0")
    if int(hardening["hardening_shell_timeout"]) > 0:
        assert out[1] == str(hardening["hardening_shell_timeout"])
        assert out[2] == "1"


def test_sudo_defaults_are_installed_and_valid(host, hardening):
    conf = host.file("/etc/sudoers.d/10-pmops-defaults")
    assert conf.mode == 0o440 and conf.user == "root"
    assert "Defaults use_pty" in conf.content_string
    assert f'logfile="{hardening["hardening_sudo_logfile"]}"' in conf.content_string
    lines = [" ".join(line.split()) for line in conf.content_string.splitlines()]
    assert {"Defaults requiretty", "Defaults noexec", "Defaults ignore_dot"} <= set(lines)
    assert host.run("visudo -c").rc == 0


@pytest.mark.parametrize("tool", ["cron", "at"])
def test_cron_and_at_are_limited_to_the_allow_list(host, hardening, tool):
    allow = host.file(f"/etc/{tool}.allow")
    assert allow.user == "root" and allow.mode == 0o640
    listed = [line for line in allow.content_string.splitlines() if line and not line.startswith("#")]
    assert listed == hardening["hardening_cron_allow"]
    assert not host.file(f"/etc/{tool}.deny").exists


@pytest.mark.parametrize("path", ["/etc/issue", "/etc/motd"])
def test_banners(host, hardening, path):
    banner = host.file(path)
    assert banner.content_string.strip() == hardening["hardening_banner_text"].strip()
    assert (banner.user, banner.group, banner.mode) == ("root", "root", 0o644)


def test_unused_kernel_modules_are_refused(host, hardening, profile):
    content = host.file("/etc/modprobe.d/60-pmops-blacklist.conf").content_string
    for module in hardening["hardening_blacklisted_modules"]:
        if module in profile["modules_allowed"]:
            assert f"install {module} /bin/false" not in content, f"the host profile allows {module}"
        else:
            assert f"install {module} /bin/false" in content


@pytest.mark.parametrize(
    ("path", "owner", "group", "mode"),
    [
        ("/etc/passwd", "root", "root", 0o644),
        ("/etc/group", "root", "root", 0o644),
        ("/etc/shadow", "root", "shadow", 0o640),
        ("/etc/gshadow", "root", "shadow", 0o640),
        ("/etc/cron.d", "root", "root", 0o700),
        ("/etc/cron.daily", "root", "root", 0o700),
        ("/etc/shells", "root", "root", 0o644),
        ("/etc/issue.net", "root", "root", 0o644),
        ("/etc/ssh/ssh_host_ed25519_key", "root", "root", 0o600),
        ("/etc/ssh/ssh_host_ed25519_key.pub", "root", "root", 0o644),
    ],
)
def test_sensitive_files(host, path, owner, group, mode):
    f = host.file(path)
    assert (f.user, f.group, f.mode) == (owner, group, mode)


@pytest.mark.parametrize("package", ["apt-show-versions", "apt-listchanges", "libpam-tmpdir", "debsums", "needrestart", "sysstat",
                                     "apparmor", "apparmor-utils", "unattended-upgrades"])
def test_audit_and_patch_tools_are_installed(host, hardening, package):
    if package != "unattended-upgrades" and package not in hardening["hardening_packages"]:
        pytest.skip(f"{package} is not in hardening_packages here")
    assert host.package(package).is_installed


def test_insecure_clients_are_absent(host, hardening):
    present = [p for p in hardening["hardening_packages_absent"] if host.package(p).is_installed]
    assert present == []


def test_needrestart_only_lists(host):
    assert "$nrconf{restart} = 'l';" in host.file("/etc/needrestart/conf.d/60-pmops.conf").content_string


def test_unattended_security_updates_run_in_the_window_without_reboot(host, hardening):
    conf = host.file("/etc/apt/apt.conf.d/52pmops-unattended-upgrades").content_string
    for origin in hardening["hardening_updates_origins"]:
        assert f'"{origin}";' in conf
    assert 'Automatic-Reboot "false"' in conf or hardening["hardening_updates_reboot"]
    assert 'APT::Periodic::Unattended-Upgrade "1";' in host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    timer = host.check_output("systemctl show -p TimersCalendar apt-daily-upgrade.timer")
    assert hardening["hardening_updates_window"].split()[0] in timer
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_pam_stacks_enforce_quality_history_and_lockout(host, hardening):
    # pwquality's dictionary check needs cracklib's dictionary, or it refuses every password
    assert host.file("/var/cache/cracklib/cracklib_dict.pwd").exists
    auth = host.file("/etc/pam.d/common-auth").content_string
    assert re.search(r"^auth\s+required\s+pam_faillock.so preauth$", auth, re.M)
    assert re.search(r"^auth\s+\[default=die\]\s+pam_faillock.so authfail$", auth, re.M)
    assert not [line for line in auth.splitlines() if "nullok" in line and not line.startswith("#")]
    assert re.search(r"^account\s+required\s+pam_faillock.so$", host.file("/etc/pam.d/common-account").content_string, re.M)
    password = host.file("/etc/pam.d/common-password").content_string
    assert re.search(r"^password\s+requisite\s+pam_pwquality.so", password, re.M)
    assert f"pam_pwhistory.so use_authtok remember={hardening['hardening_password_history']}" in password
    quality = host.file("/etc/security/pwquality.conf").content_string
    assert f"minlen = {hardening['hardening_password_min_length']}" in quality
    assert f"minclass = {hardening['hardening_password_min_classes']}" in quality
    assert f"deny = {hardening['hardening_faillock_deny']}" in host.file("/etc/security/faillock.conf").content_string
    # The modules the stacks name exist, and faillock answers for the automation account.
    for module in ("pam_faillock.so", "pam_pwquality.so", "pam_pwhistory.so"):
        assert host.file(f"/usr/lib/x86_64-linux-gnu/security/{module}").exists, module
    assert host.run("faillock --user pmops").rc == 0
    assert not host.file("/etc/pam.d/sshd-pmops-canary").exists


def test_audit_rules_cover_the_required_events(host, hardening, in_container):
    rules = host.file("/etc/audit/rules.d/50-pmops.rules").content_string
    for key in ("identity", "scope", "privileged", "time-change", "logins", "session", "perm_mod", "modules", "mounts"):
        assert f"-k {key}" in rules, key
    assert ("-e 2" in rules) == bool(hardening["hardening_auditd_immutable"])
    conf = host.file("/etc/audit/auditd.conf").content_string
    assert f"admin_space_left_action = {hardening['hardening_auditd_admin_space_left_action']}" in conf
    if in_container:
        # Not applicable: the audit system belongs to the host's kernel; the unit is skipped, not failed.
        assert host.run("systemctl is-failed auditd").stdout.strip() != "failed"
    else:
        assert host.service("auditd").is_running
        assert "-k identity" in host.check_output("auditctl -l")


def test_aide_database_exists_and_checks(host):
    assert host.file("/var/lib/aide/aide.db").exists
    assert host.service("pmops-aide-check.timer").is_enabled
    check = host.run("aide --check --config /etc/aide/aide.conf")
    # 0 = no change; 1-7 = changes found (added, removed, changed); 14+ = an error.
    assert check.rc < 8, check.stderr


def test_process_accounting(host, in_container):
    assert host.package("acct").is_installed
    if in_container:
        pytest.skip("not applicable: process accounting needs the host's kernel (the role reports it)")
    assert host.service("acct").is_enabled


def test_no_unexpected_setid_or_world_writable_files(host, hardening):
    prune = r"\( -path /proc -o -path /sys -o -path /dev -o -path /run \) -prune -o"
    setid = host.check_output(f"find / -xdev {prune} -type f -perm /6000 -print").split()
    assert sorted(set(setid) - set(hardening["hardening_setid_allowed"])) == []
    writable = host.check_output(f"find / -xdev {prune} -type f -perm -0002 -print").split()
    assert writable == []
    unsticky = host.check_output(f"find / -xdev {prune} -type d -perm -0002 ! -perm -1000 -print").split()
    assert unsticky == []


def test_unneeded_services_are_masked(host, hardening):
    running = [name for name in hardening["hardening_services_disabled"]
               if host.run(f"systemctl is-active {name}").stdout.strip() == "active"]
    assert running == []


# How a host is reached, copied to a host that is not in the inventory (see below).
CONNECTION = ("ansible_user", "ansible_port", "ansible_ssh_private_key_file", "ansible_ssh_common_args",
              "ansible_python_interpreter", "ansible_become_method")


def test_logs_arrive_at_the_log_server_over_tls(host, hardening, hostvars, request, tmp_path):
    target = hostvars.get("hardening_log_forward_target") or hardening["hardening_log_forward_target"]
    if not target:
        pytest.skip("no log server configured (hardening_log_forward_target)")
    conf = host.file("/etc/rsyslog.d/60-pmops.conf").content_string
    assert host.service("rsyslog").is_running
    if target == hostvars["inventory_hostname"]:
        assert 'StreamDriver.AuthMode="x509/certvalid"' in conf
        return
    assert 'StreamDriverAuthMode="x509/name"' in conf and f'target="{target}"' in conf
    inventory = request.config.option.ansible_inventory
    topology = (hostvars.get("pmops_topology") or {}).get("hosts") or {}
    if target not in (hostvars.get("groups") or {}).get("all", []) and target in topology:
        # A slice of the inventory (AWX's job slicing) holds only some hosts: reach the log server
        # at its address in the static topology, the way this host is reached.
        inventory = str(tmp_path / "log-server.yml")
        Path(inventory).write_text(yaml.safe_dump({"all": {"hosts": {target: dict(
            {key: hostvars[key] for key in CONNECTION if key in hostvars}, ansible_host=topology[target]["address"])}}}))
    server = testinfra.get_host(f"ansible://{target}", ansible_inventory=inventory, sudo=True)
    marker = f"pmops-verify-{uuid.uuid4()}"
    host.run(f"logger -t pmops-verify {marker}")
    name = hostvars["inventory_hostname"]
    for _ in range(20):
        if server.run(f"grep -rqs {marker} /var/log/remote/{name}").rc == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"{marker} from {name} did not reach {target} within 10 s")


def _shadow(host) -> dict[str, list[str]]:
    return {fields[0]: fields for fields in (line.split(":") for line in
                                             host.check_output("sudo getent shadow").splitlines()) if len(fields) >= 8}


def test_passwords_in_use_age_and_lock_and_root_has_one(host, hardening):
    """CIS 5.4.1.1-5.4.1.6, 5.4.2.4: login.defs rules only new accounts; every usable password here ages too."""
    assert re.search(rf"^INACTIVE={hardening['hardening_password_inactive_days']}$",
                     host.file("/etc/default/useradd").content_string, re.M)
    shadow, today = _shadow(host), int(time.time()) // 86400
    assert shadow["root"][1][:1] not in ("", "!", "*"), "root has no password"
    for name, fields in shadow.items():
        assert not fields[2] or int(fields[2]) <= today, f"{name}: last change dated in the future"
        if fields[1][:1] in ("", "!", "*"):
            continue
        assert 0 < int(fields[4]) <= int(hardening["hardening_password_max_days"]), name
        assert int(fields[3]) >= int(hardening["hardening_password_min_days"]), name
        assert 0 <= int(fields[6]) <= int(hardening["hardening_password_inactive_days"]), name


def test_roots_path_holds_only_roots_own_directories(host):
    path = host.check_output("sudo -i bash -lc 'echo $PATH'")
    entries = path.split(":")
    assert "" not in entries and all(e.startswith("/") for e in entries), path
    for entry in entries:
        d = host.file(entry)
        if d.exists:
            assert d.user == "root" and not d.mode & 0o022, entry


def test_apt_takes_signed_packages_from_the_approved_repositories_only(host, hardening):
    # || true: a host may have no sources.list (deb822 only), which grep reports as an error
    sources = host.check_output("grep -rhEv '^[[:space:]]*(#|$)' /etc/apt/sources.list /etc/apt/sources.list.d/ || true")
    assert not re.search(r"trusted=yes|allow-insecure=yes|^Trusted:\s*yes", sources, re.I | re.M), sources
    assert not host.file("/etc/apt/trusted.gpg").exists or host.file("/etc/apt/trusted.gpg").size == 0
    mirror_file = Path(__file__).resolve().parents[2] / ".lab" / "apt_mirror"
    approved = hardening["hardening_apt_repositories"]
    if isinstance(approved, str) and mirror_file.exists():  # the lab's, made from this machine's mirror
        mirror = mirror_file.read_text().strip()
        approved = [mirror, mirror + "-security"]
    if approved:
        uris = re.findall(r"\b(?:https?|file)://\S+", sources)
        assert {u.rstrip("/") for u in uris} <= {a.rstrip("/") for a in approved}, uris


def test_su_is_for_nobody_but_root_and_reauthentication_stays_on(host, hardening):
    group = hardening["hardening_su_group"]
    assert f"auth required pam_wheel.so use_uid group={group}" in \
        [" ".join(line.split()) for line in host.file("/etc/pam.d/su").content_string.splitlines()]
    assert host.check_output(f"getent group {group}").split(":")[3] == ""
    assert host.package("sudo").is_installed
    assert host.run("sudo grep -rEl '^[^#]*!authenticate' /etc/sudoers /etc/sudoers.d").rc == 1


def test_log_files_are_closed_to_others(host):
    """CIS 6.2.2.1 and 6.2.1.1.2: 0640 at most; the login records (wtmp, btmp, lastlog) 0664."""
    found = host.check_output("sudo find /var/log -type f -perm /0137 -printf '%m %p\\n'").splitlines()
    loose = [line for line in found if not re.search(r"/(wtmp|btmp|lastlog)([.-][^/]*)?$", line)
             or int(line.split()[0], 8) & ~0o664]
    assert loose == []


def test_log_directories_stay_searchable(host):
    """Closing log files (HARD-16) never takes a directory's search bit: its owner still enters it."""
    assert host.check_output("sudo find /var/log -type d ! -perm -u+x -print") == ""
