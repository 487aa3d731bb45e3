"""Backup drills on the converged lab: known rows survive a backup, a dropped database and a
restore byte for byte; the restore drill passes and fails loudly on a broken dump; a backup
with backup-01 stopped fails clearly and the next one, with it back, loses no snapshot;
retention keeps exactly what the policy says; a point-in-time recovery brings back the
rows written before its target and none after; the repository holds no readable customer
data and its accounts cannot open a shell."""

from __future__ import annotations

import datetime
import json
import subprocess
import time
import uuid

import pytest

import drillkit
from drillkit import CA, ENV, playbook, pmops, ssh, sudo
from pmops.load import Load

DB, BACKUP = "db-01", "backup-01"
WEB = drillkit.web_url()


def recorded(command: str, result: str) -> dict:
    record = drillkit.run_log()[-1]
    assert (record["command"], record["result"]) == (command, result), record
    assert record["git_commit"] and record["who"]
    return record


def psql(sql: str, db: str = "marketing") -> str:
    proc = sudo(DB, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", db, "-c", sql)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def checksums() -> dict:
    return {t: psql(f"SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM {t} x")
            for t in ("accounts", "meter_readings")}


def backup_now(address: str = DB) -> None:
    drillkit.start_unit(address, "pmops-backup.service")


def metrics(address: str = DB) -> dict:
    text = sudo(address, "cat", "/var/lib/prometheus/node-exporter/pmops_backup.prom").stdout
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")}


def snapshot_ids(address: str = DB) -> set:
    proc = sudo(address, "/usr/local/sbin/pmops-backup", "snapshots")
    assert proc.returncode == 0, proc.stderr
    return {s["id"] for s in json.loads(proc.stdout)}


def test_known_rows_survive_a_backup_a_dropped_database_and_a_restore():
    marker = f"Backup drill {uuid.uuid4().hex[:8]}"
    load = Load(WEB, CA)
    for n in range(25):
        ok, account = load.request("POST", "/accounts", {"name": f"{marker} {n}", "address": "1 Restore Road"}, 201)
        assert ok
        ok, _ = load.request("POST", f"/accounts/{account['id']}/readings", {"period": "2026-11", "kwh": 123.456 + n}, 201)
        assert ok
    before = checksums()
    proc, backup_seconds, out = pmops("backup", "-l", "db-01")
    assert proc.returncode == 0, out[-3000:]
    assert recorded("backup", "ok")["changed"] == {"db-01": ["backup : Start pmops-backup.service and wait for it to end"]}
    proc, _, out = pmops("restore", "-l", "db-01", "--database", "marketing", "--to", "original", "--confirm")
    assert proc.returncode == 0, out[-3000:]
    assert recorded("restore", "ok")["request"] == {"restore_database": "marketing", "restore_to": "original",
                                                    "restore_confirm": "yes", "restore_snapshot": "latest"}
    assert checksums() == before, "the restored rows differ from those backed up"
    assert psql(f"SELECT count(*) FROM accounts WHERE name LIKE '{marker}%'") == "25"
    # the portal reconnects to the restored database
    deadline = time.monotonic() + 30
    while not load.request("GET", "/healthz")[0] and time.monotonic() < deadline:
        time.sleep(1)
    assert load.request("GET", "/healthz")[0]
    print(f"backup {backup_seconds:.1f} s, rows {before}")


def test_a_restore_without_confirmation_is_refused():
    proc, _, out = playbook("playbooks/restore.yml", "-l", "db-01", "-e", "restore_database=marketing",
                            "-e", "restore_to=original")
    assert proc.returncode != 0 and "needs -e restore_confirm=yes" in out and "Nothing was changed" in out
    proc, _, out = pmops("restore", "-l", "db-01", "--database", "marketing", "--to", "original")
    assert proc.returncode == 2 and "add --confirm. Nothing was changed" in out


def test_the_restore_drill_passes_then_fails_loudly_on_a_broken_dump():
    backup_now()
    proc, _, out = pmops("restore", "--drill", "-v")
    assert proc.returncode == 0, out[-3000:]
    recorded("restore-drill", "ok")
    result = json.loads(sudo(DB, "cat", "/var/lib/pmops-backup/restore-drill.json").stdout)
    assert result["result"] == "pass" and result["databases"][0]["database"] == "marketing"
    assert metrics()["pmops_restore_drill_last_run_success"] == 1
    # a newer "dump" that is garbage becomes the latest
    broken = ssh(DB, "echo not-a-dump | sudo -n /usr/local/sbin/pmops-backup restic backup --quiet --stdin "
                     "--stdin-filename marketing.dump --tag postgresql --tag db:marketing --host db-01")
    assert broken.returncode == 0, broken.stderr
    proc, _, out = pmops("restore", "--drill")
    assert proc.returncode != 0
    recorded("restore-drill", "failed")
    assert "RESTORE DRILL FAILED" in out and "does not restore" in out
    assert metrics()["pmops_restore_drill_last_run_success"] == 0
    backup_now()  # a good dump is the latest again
    proc, _, out = playbook("playbooks/restore-drill.yml")  # the playbook alone works as well
    assert proc.returncode == 0, out[-3000:]


def accounts(load: Load, prefix: str, n: int) -> None:
    for i in range(n):
        ok, _ = load.request("POST", "/accounts", {"name": f"{prefix} {i}", "address": "2 Timeline Street"}, 201)
        assert ok


def test_point_in_time_recovery_brings_back_what_was_there_at_the_target_and_nothing_after():
    marker = uuid.uuid4().hex[:8]
    load = Load(WEB, CA)
    backup_now()  # a base backup before everything below
    accounts(load, f"PITR before {marker}", 10)
    time.sleep(2)
    target = psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    time.sleep(2)
    accounts(load, f"PITR after {marker}", 10)
    # a point-in-time recovery is destructive: no confirmation, no recovery
    proc, _, out = playbook("playbooks/restore.yml", "-l", "db-01", "-e", f"restore_pitr_target='{target}'")
    assert proc.returncode != 0 and "Nothing was changed" in out
    proc, seconds, out = pmops("restore", "-v", "-l", "db-01", "--pitr-target", target, "--to", "original", "--confirm")
    assert proc.returncode == 0, out[-3000:]
    assert recorded("restore", "ok")["request"]["restore_pitr_target"] == target
    assert f"cluster recovered to {target}" in out
    assert psql(f"SELECT count(*) FROM accounts WHERE name LIKE 'PITR before {marker}%'") == "10"
    assert psql(f"SELECT count(*) FROM accounts WHERE name LIKE 'PITR after {marker}%'") == "0"
    assert psql("SELECT pg_is_in_recovery()") == "f"
    deadline = time.monotonic() + 30
    while not load.request("GET", "/healthz")[0] and time.monotonic() < deadline:
        time.sleep(1)
    assert load.request("GET", "/healthz")[0], "the portal does not answer after the recovery"
    # the data directory it replaced was kept beside it; the drill removes it
    kept = ssh(DB, "ls -d /var/lib/postgresql/15/main.before-restore-*").stdout.split()
    assert kept, "the replaced data directory was not kept"
    sudo(DB, "rm", "-rf", *kept)
    # archiving goes on in the new timeline, and the next backup is good
    backup_now()
    drillkit.start_unit(DB, "pmops-backup-wal.service")
    print(f"point-in-time recovery to {target}: {seconds:.1f} s")


# Alone, not in its lane: with backup-01 stopped, every backup client's check-mode run (the
# audit drills on web-01, in the other lane) fails to read its repository. At the end of the
# last phase, so that a backup-01 which did not come back fails this drill alone, not the
# application drills after it (the patch drill upgrades every host).
@pytest.mark.phase("last", at="last")
def test_a_backup_with_the_repository_down_fails_clearly_and_loses_nothing():
    backup_now()
    before = snapshot_ids()
    good = metrics()["pmops_backup_last_success_timestamp_seconds"]
    stop = subprocess.run(["podman", "stop", "--time", "5", "pmops-backup-01"], env=ENV, capture_output=True, text=True)
    assert stop.returncode == 0, stop.stderr
    try:
        failed, _, out = pmops("backup", "-l", "db-01")
        assert failed.returncode != 0
        assert "the backup of db-01 failed" in out and "BACKUP FAILED" in out, out[-3000:]
        assert recorded("backup", "failed")["failed_hosts"] == ["db-01"]
        m = metrics()
        assert m["pmops_backup_last_run_success"] == 0
        assert m["pmops_backup_last_success_timestamp_seconds"] == good
    finally:
        up, _, out = pmops("lab", "up")
        assert up.returncode == 0, out
    # every snapshot made before the outage is still there once backup-01 is back
    assert before <= snapshot_ids(), "a snapshot was lost"
    backup_now()
    assert metrics()["pmops_backup_last_run_success"] == 1
    assert metrics()["pmops_backup_last_success_timestamp_seconds"] > good
    # (the successful run then applies retention: same-day snapshots collapse to the newest, by policy)


def expected_kept(times: list[datetime.datetime], daily: int, weekly: int, monthly: int) -> int:
    """restic's policy: for each rule, the newest snapshot of each of the newest N buckets."""
    newest_first = sorted(times, reverse=True)
    kept = set()
    for count, bucket in ((daily, lambda t: t.date()), (weekly, lambda t: t.isocalendar()[:2]),
                          (monthly, lambda t: (t.year, t.month))):
        seen = []
        for t in newest_first:
            b = bucket(t)
            if b not in seen and len(seen) < count:
                seen.append(b)
                kept.add(t)
    return len(kept)


def test_retention_keeps_exactly_what_the_policy_says():
    repo = "/var/tmp/pmops-retention-drill"
    sudo(DB, "rm", "-rf", repo)
    env = f"RESTIC_REPOSITORY={repo} RESTIC_PASSWORD=drill"
    assert ssh(DB, f"sudo -n env {env} restic init --quiet").returncode == 0
    now = datetime.datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)
    # Enough history for every rule, kept short (each snapshot is one restic run): a snapshot a
    # day for ten days, a second one on three of them (same-day snapshots collapse), then one a
    # week back to ten weeks (weekly and monthly buckets over three months).
    days = list(range(10)) + [13, 20, 27, 34, 41, 48, 55, 62, 69]
    times = sorted({now - datetime.timedelta(days=d) for d in days}
                   | {now - datetime.timedelta(days=d, hours=6) for d in (0, 1, 2)}, reverse=True)
    script = " && ".join(f"sudo -n env {env} restic backup --quiet --tag files --host db-01 "
                         f"--time '{t:%Y-%m-%d %H:%M:%S}' /etc/hostname" for t in times)
    assert ssh(DB, script, timeout=900).returncode == 0
    # the role's command, with a tight policy
    forget = ssh(DB, f"sudo -n env {env} restic forget --quiet --prune --group-by host,tags "
                     "--keep-daily 3 --keep-weekly 2 --keep-monthly 2")
    assert forget.returncode == 0, forget.stderr
    left = json.loads(ssh(DB, f"sudo -n env {env} restic snapshots --json").stdout)
    assert len(left) == expected_kept(times, 3, 2, 2), [s["time"] for s in left]
    sudo(DB, "rm", "-rf", repo)


def test_the_repository_holds_no_readable_customer_data_and_its_accounts_have_no_shell():
    marker = "Backup drill"  # names written by the first test, now in the backups
    found = sudo(BACKUP, "grep", "-rl", marker, "/srv/pmops-backup")
    assert found.returncode == 1 and found.stdout == "", f"readable customer data in the repository: {found.stdout}"
    # db-01's own key, its own account: SFTP only, no command, no shell
    shell = ssh(DB, "sudo -n ssh -i /root/.ssh/pmops-backup -o IdentitiesOnly=yes -o BatchMode=yes "
                    f"-o UserKnownHostsFile=/etc/pmops-backup/known_hosts bk-db-01@{drillkit.address(BACKUP)} id")
    assert "uid=" not in shell.stdout
    assert shell.returncode != 0 or "sftp connections only" in (shell.stdout + shell.stderr)
    entry = sudo(BACKUP, "getent", "passwd", "bk-db-01").stdout
    assert entry.strip().endswith(":/usr/sbin/nologin")
    # nor rewrite its own key's restrictions over SFTP
    keys = sudo(BACKUP, "sha256sum", "/srv/pmops-backup/bk-db-01/.ssh/authorized_keys").stdout
    put = ssh(DB, "echo 'put /etc/hostname /.ssh/authorized_keys' | sudo -n sftp -b - -i /root/.ssh/pmops-backup "
                  "-o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=/etc/pmops-backup/known_hosts "
                  f"bk-db-01@{drillkit.address(BACKUP)}")
    assert put.returncode != 0, put.stdout
    assert sudo(BACKUP, "sha256sum", "/srv/pmops-backup/bk-db-01/.ssh/authorized_keys").stdout == keys
