#!/usr/bin/env python3
"""Backup and restore speed: a database of generated meter readings of a stated size on
db-01, dumped (custom format) into its restic repository on backup-01 over SFTP, then
restored from there into a scratch database; then the whole cluster as a base backup (the
starting point of point-in-time recovery). Prints a table and saves JSON under
bench/results/. The bench database and its snapshots are removed afterwards.

Usage: bench_backup.py [--mb 1024]     (the lab must be converged, with backups configured)
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from pmops import lab  # noqa: E402

DB = "10.89.30.31"
NAME = "bench_readings"


def sh(command: str, timeout: int = 7200) -> str:
    proc = subprocess.run(lab.ssh_base() + [f"pmops@{DB}", command], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        sys.exit(f"bench: {command[:120]} failed: {proc.stderr[-2000:]}")
    return proc.stdout.strip()


def psql(sql: str, db: str = NAME) -> str:
    return sh("sudo -n runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d " + db + " -c " + shlex.quote(sql))


def timed(command: str) -> float:
    started = time.monotonic()
    sh(command)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="size of the generated table (default 1024 MB)")
    args = parser.parse_args()
    rows = args.mb * 1024 * 1024 // 90  # about 90 bytes per row on disk, indexes included
    psql(f"DROP DATABASE IF EXISTS {NAME}", "postgres")
    psql(f"DROP DATABASE IF EXISTS {NAME}_restored", "postgres")
    psql(f"CREATE DATABASE {NAME}", "postgres")
    print(f"bench: generating {rows:,} meter readings (~{args.mb} MB)", file=sys.stderr, flush=True)
    pitr = sh("test -d /var/lib/pmops-backup/wal && echo yes || echo no") == "yes"
    if pitr:  # ship what is in the spool now, so that the figure below is this bench's WAL only
        sh("sudo -n /usr/local/sbin/pmops-backup wal")
        segments_before = set(sh("sudo -n ls /var/lib/pmops-backup/wal").split())
    generate = timed("sudo -n runuser -u postgres -- psql -XAtq -d " + NAME + " -c " + shlex.quote(
        "CREATE TABLE meter_readings (id bigserial PRIMARY KEY, account_id bigint NOT NULL, period char(7) NOT NULL, "
        "kwh numeric(12,3) NOT NULL, read_at timestamptz NOT NULL DEFAULT now()); "
        f"INSERT INTO meter_readings (account_id, period, kwh) SELECT g % 500000, "
        f"to_char(date '2020-01-01' + (g % 72) * interval '1 month', 'YYYY-MM'), (g % 90000) / 100.0 "
        f"FROM generate_series(1, {rows}) g;"))
    psql("VACUUM ANALYZE meter_readings")  # apart: psql -c runs its statements in one transaction
    size = int(psql(f"SELECT pg_database_size('{NAME}')"))
    print("bench: backing up", file=sys.stderr, flush=True)
    backup = timed(f"sudo -n bash -o pipefail -c 'runuser -u postgres -- pg_dump --format=custom --dbname={NAME} "
                   f"| /usr/local/sbin/pmops-backup restic backup --quiet --stdin --stdin-filename {NAME}.dump "
                   f"--tag bench --host db-01'")
    snap = json.loads(sh("sudo -n /usr/local/sbin/pmops-backup restic --no-lock snapshots --json --tag bench --latest 1"))[-1]
    # the whole cluster as a base backup (point-in-time recovery's starting point), same path
    print("bench: base backup of the cluster", file=sys.stderr, flush=True)
    cluster = int(psql("SELECT sum(pg_database_size(datname)) FROM pg_database", "postgres"))
    base = timed("sudo -n bash -o pipefail -c 'runuser -u postgres -- pg_basebackup --pgdata=- --format=tar "
                 "--wal-method=fetch --checkpoint=fast | /usr/local/sbin/pmops-backup restic backup --quiet --stdin "
                 "--stdin-filename base.tar --tag bench-base --host db-01'")
    wal_row = []
    if pitr:
        print("bench: shipping the WAL written", file=sys.stderr, flush=True)
        sh("sudo -n runuser -u postgres -- psql -XAtqc 'SELECT pg_switch_wal()'")
        time.sleep(2)
        new = len(set(sh("sudo -n ls /var/lib/pmops-backup/wal").split()) - segments_before)
        ship = timed("sudo -n /usr/local/sbin/pmops-backup wal")
        wal_row = [("WAL written since, shipped (pmops-backup wal)", f"{new * 16:,} MiB ({new} segments) in {ship:.1f} s, "
                                                                    f"{new * 16 / ship:.1f} MiB/s")]
    print("bench: restoring", file=sys.stderr, flush=True)
    psql(f"CREATE DATABASE {NAME}_restored", "postgres")
    restore = timed(f"sudo -n bash -o pipefail -c '/usr/local/sbin/pmops-backup restic --no-lock dump {snap['short_id']} "
                    f"/{NAME}.dump | runuser -u postgres -- pg_restore --exit-on-error --no-owner --dbname={NAME}_restored'")
    same = psql("SELECT count(*) FROM meter_readings") == psql("SELECT count(*) FROM meter_readings", f"{NAME}_restored")
    psql(f"DROP DATABASE {NAME}_restored", "postgres")
    psql(f"DROP DATABASE {NAME}", "postgres")
    base_snap = json.loads(sh("sudo -n /usr/local/sbin/pmops-backup restic --no-lock snapshots --json --tag bench-base"))
    sh("sudo -n /usr/local/sbin/pmops-backup restic forget --quiet --prune " + " ".join(
        [snap["short_id"]] + [s["short_id"] for s in base_snap]))
    mib = size / 1024 / 1024
    cluster_mib = cluster / 1024 / 1024
    table = [("database size (pg_database_size)", f"{mib:,.0f} MiB, {rows:,} rows"),
             ("generate", f"{generate:.1f} s"),
             ("backup (pg_dump -Fc | restic over SFTP)", f"{backup:.1f} s, {mib / backup:.1f} MiB/s"),
             ("restore (restic dump | pg_restore)", f"{restore:.1f} s, {mib / restore:.1f} MiB/s"),
             ("base backup of the cluster (pg_basebackup | restic)", f"{cluster_mib:,.0f} MiB in {base:.1f} s, "
                                                                    f"{cluster_mib / base:.1f} MiB/s"),
             *wal_row,
             ("rows equal after restore", "yes" if same else "NO")]
    width = max(len(k) for k, _ in table)
    print(f"| {'step'.ljust(width)} | figure |\n|{'-' * (width + 2)}|--------|")
    for key, value in table:
        print(f"| {key.ljust(width)} | {value} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"backup-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(
        {"mb_requested": args.mb, "bytes": size, "rows": rows, "generate_s": generate, "backup_s": backup,
         "restore_s": restore, "cluster_bytes": cluster, "base_backup_s": base, "rows_equal": same}, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
