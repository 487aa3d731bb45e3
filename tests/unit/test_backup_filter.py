"""The backup inputs' checks (validation play)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "filter_plugins"))
from pmops_backup import pmops_backup_errors  # noqa: E402

HOSTS = ["web-01", "db-01", "backup-01"]


def good(**changes):
    return dict({"backup_repository_host": "backup-01", "backup_password": "p" * 32, "backup_keep_daily": 7,
                 "backup_schedule": "*-*-* 01:30:00", "backup_paths": ["/etc"]}, **changes)


def test_the_lab_shape_passes():
    assert pmops_backup_errors(good(), ["backup-01"], HOSTS) == []


@pytest.mark.parametrize("changes,needle", [
    ({"backup_repository_host": "backup-02"}, "'backup-02' is not an inventory host"),
    ({"backup_repository_host": "db-01"}, "db-01 is not in the backup tier"),
    ({"backup_password": "short"}, "backup_password: needs at least 16"),
    ({"backup_keep_daily": 0}, "0 would prune every daily snapshot"),
    ({"backup_keep_weekly": -1}, "backup_keep_weekly: must be a whole number"),
    ({"backup_schedule": "daily; rm -rf /"}, "is not a systemd OnCalendar expression"),
    ({"backup_paths": ["etc"]}, "'etc' is not an absolute path"),
    ({"backup_postgresql_pitr": "yes please"}, "backup_postgresql_pitr: must be true or false"),
    ({"backup_wal_keep_days": 0}, "0 would empty the WAL spool"),
    ({"backup_wal_archive_timeout": "5min"}, "backup_wal_archive_timeout: must be a whole number"),
    ({"backup_wal_schedule": "every `date`"}, "backup_wal_schedule: 'every `date`' is not a systemd OnCalendar"),
])
def test_bad_inputs_are_named(changes, needle):
    assert any(needle in e for e in pmops_backup_errors(good(**changes), ["backup-01"], HOSTS))
