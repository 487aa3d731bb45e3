"""Backups as converged: the repository host's chrooted SFTP-only accounts, each client's
key bound to its address, the initialised repository, the timers, the freshness metrics'
directory and, where it is on, WAL archiving for point-in-time recovery.
What a backup and a restore do is proven by the drills (tests/drills/test_backup.py)."""

from __future__ import annotations

import pytest

from conftest import role_inputs


@pytest.fixture(scope="module")
def backup(hostvars) -> dict:
    return role_inputs("backup", hostvars)


def is_repository(hostvars, backup) -> bool:
    return hostvars["inventory_hostname"] == backup["backup_repository_host"]


def clients(hostvars, backup) -> list[str]:
    groups = hostvars["groups"]
    return [h for h in groups.get("pmops", groups["all"]) if h != backup["backup_repository_host"]]


def client_only(hostvars, backup):
    if is_repository(hostvars, backup):
        pytest.skip("the repository host backs up nobody")


def has_databases(hostvars):
    if "db" not in hostvars.get("group_names", []):
        pytest.skip("no databases on this host")


# ------------------------------------------------------------------ repository host
def test_each_client_has_a_chrooted_account_that_cannot_log_in(host, hostvars, backup):
    if not is_repository(hostvars, backup):
        pytest.skip("not the repository host")
    root = backup["backup_repository_root"]
    for client in clients(hostvars, backup):
        account = f"bk-{client}"
        user = host.user(account)
        assert user.exists, account
        assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"), (account, user.shell)
        assert "pmops-backup" in user.groups
        # sshd's chroot must be root's and not writable by the account; the repository is the account's
        chroot = host.file(f"{root}/{account}")
        assert (chroot.user, chroot.mode & 0o022) == ("root", 0), account
        repo = host.file(f"{root}/{account}/repo")
        assert (repo.user, repo.mode) == (account, 0o700), account
        assert host.file(f"{root}/{account}/repo/config").exists, f"{account}: repository not initialised"
        keys = host.file(f"{root}/{account}/.ssh/authorized_keys")
        assert keys.user == "root"
        lines = [line for line in keys.content_string.splitlines() if line.strip()]
        assert len(lines) == 1, f"{account}: exactly one key"
        theirs = host.backend.ansible_runner.get_variables(client)
        address = theirs.get("pmops_address") or theirs.get("ansible_host", client)
        assert lines[0].startswith(f'restrict,from="{address}" ssh-ed25519 '), lines[0]


def test_sshd_offers_the_backup_accounts_sftp_in_their_chroot_only(host, hostvars, backup):
    if not is_repository(hostvars, backup):
        pytest.skip("not the repository host")
    account = f"bk-{clients(hostvars, backup)[0]}"
    effective = host.run(f"sudo sshd -T -C user={account},host=x,addr=10.0.0.1")
    assert effective.rc == 0, effective.stderr
    settings = dict(line.split(" ", 1) for line in effective.stdout.splitlines() if " " in line)
    assert settings["forcecommand"] == "internal-sftp"
    assert settings["chrootdirectory"] == f"{backup['backup_repository_root']}/%u"
    assert settings["allowtcpforwarding"] == "no"
    assert settings["x11forwarding"] == "no"


# ------------------------------------------------------------------ clients
def test_the_client_keeps_its_secrets_to_root(host, hostvars, backup):
    client_only(hostvars, backup)
    for path, mode in (("/etc/pmops-backup", 0o700), ("/etc/pmops-backup/password", 0o600),
                       ("/etc/pmops-backup/restic.env", 0o600), ("/root/.ssh/pmops-backup", 0o600)):
        f = host.file(path)
        assert (f.user, f.mode) == ("root", mode), path


def test_the_repository_answers_and_is_initialised(host, hostvars, backup):
    client_only(hostvars, backup)
    exists = host.run("sudo /usr/local/sbin/pmops-backup exists")
    assert exists.rc == 0, exists.stderr


def test_the_timers_are_enabled_with_a_random_delay(host, hostvars, backup):
    client_only(hostvars, backup)
    timers = ["pmops-backup.timer", "pmops-backup-check.timer"]
    if "db" in hostvars.get("group_names", []):
        timers.append("pmops-restore-drill.timer")
    for timer in timers:
        assert host.service(timer).is_enabled, timer
        assert host.run(f"systemctl is-active {timer}").stdout.strip() == "active", timer
    delay = host.run("systemctl show -P RandomizedDelayUSec pmops-backup.timer").stdout.strip()
    assert delay not in ("", "0"), delay


def test_freshness_metrics_have_their_directory(host, hostvars, backup):
    client_only(hostvars, backup)
    assert host.file(backup["backup_textfile_dir"]).is_directory


def test_postgresql_archives_its_wal_where_point_in_time_recovery_is_on(host, hostvars, backup):
    client_only(hostvars, backup)
    has_databases(hostvars)
    settings = host.run("sudo -u postgres psql -XAtc \"SELECT name || '=' || setting FROM pg_settings"
                        " WHERE name IN ('archive_mode', 'wal_level')\"")
    assert settings.rc == 0, settings.stderr
    values = dict(line.split("=", 1) for line in settings.stdout.split())
    timer = host.service("pmops-backup-wal.timer")
    if backup["backup_postgresql_pitr"]:
        assert values == {"archive_mode": "on", "wal_level": "replica"}
        assert timer.is_enabled
        spool = host.file("/var/lib/pmops-backup/wal")
        assert (spool.user, spool.mode) == ("postgres", 0o700)
        failed = host.run("sudo -u postgres psql -XAtc 'SELECT failed_count FROM pg_stat_archiver'").stdout.strip()
        assert failed == "0", f"{failed} WAL segments failed to archive"
    else:
        assert values["archive_mode"] == "off"
        assert not host.file("/etc/systemd/system/pmops-backup-wal.timer").exists


def test_the_restore_drill_is_scheduled_on_hosts_with_databases(host, hostvars, backup):
    client_only(hostvars, backup)
    has_databases(hostvars)
    drill = host.file("/usr/local/sbin/pmops-restore-drill")
    assert (drill.user, drill.mode) == ("root", 0o755)
    assert host.service("pmops-restore-drill.timer").is_enabled
    calendar = host.run("systemctl show -P TimersCalendar pmops-restore-drill.timer").stdout
    assert calendar.strip(), "the drill's timer has no calendar"
