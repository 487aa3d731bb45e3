"""OS hardening: kernel parameters, login.defs, core dumps, shells, sudo, cron, banners, modules, files."""

from __future__ import annotations

import pytest


def test_kernel_parameters_file_holds_every_parameter(host, hardening):
    content = host.file("/etc/sysctl.d/60-pmops-hardening.conf").content_string
    wanted = dict(hardening["hardening_sysctl"], **hardening["hardening_sysctl_overrides"])
    for key, value in wanted.items():
        assert f"{key} = {value}\n" in content + "\n"


def test_kernel_parameters_are_live_outside_containers(host, hardening, in_container):
    if in_container:
        pytest.skip("not applicable: a container shares its host's kernel (the role reports HARD-01 so)")
    wanted = dict(hardening["hardening_sysctl"], **hardening["hardening_sysctl_overrides"])
    for key, value in wanted.items():
        assert host.sysctl(key) == value, key


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("PASS_MAX_DAYS", "hardening_password_max_days"),
        ("PASS_MIN_DAYS", "hardening_password_min_days"),
        ("PASS_WARN_AGE", "hardening_password_warn_age"),
        ("ENCRYPT_METHOD", "hardening_encrypt_method"),
        ("UMASK", "hardening_umask"),
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
    assert host.file(path).content_string.strip() == hardening["hardening_banner_text"].strip()


def test_unused_kernel_modules_are_refused(host, hardening):
    content = host.file("/etc/modprobe.d/60-pmops-blacklist.conf").content_string
    for module in hardening["hardening_blacklisted_modules"]:
        assert f"install {module} /bin/false" in content


@pytest.mark.parametrize(
    ("path", "owner", "group", "mode"),
    [
        ("/etc/passwd", "root", "root", 0o644),
        ("/etc/group", "root", "root", 0o644),
        ("/etc/shadow", "root", "shadow", 0o640),
        ("/etc/gshadow", "root", "shadow", 0o640),
    ],
)
def test_sensitive_files(host, path, owner, group, mode):
    f = host.file(path)
    assert (f.user, f.group, f.mode) == (owner, group, mode)


@pytest.mark.parametrize("package", ["apt-show-versions", "debsums", "needrestart", "sysstat", "unattended-upgrades"])
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
