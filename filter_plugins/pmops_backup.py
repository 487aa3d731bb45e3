"""Checks of the backup inputs for the validation play (pure Python)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

ON_CALENDAR = re.compile(r"^[A-Za-z0-9*:,./~ -]+$")


def pmops_backup_errors(backup: Mapping, backup_hosts, all_hosts) -> list[str]:
    """What is wrong with the backup_* variables; backup_hosts are the backup tier's hosts."""
    if not isinstance(backup, Mapping):
        raise AnsibleFilterError("pmops_backup_errors needs a mapping of the backup_* variables")
    errors = []
    repo = backup.get("backup_repository_host")
    if repo is not None:
        if repo not in all_hosts:
            errors.append(f"backup_repository_host: {repo!r} is not an inventory host")
        elif repo not in backup_hosts:
            errors.append(f"backup_repository_host: {repo} is not in the backup tier")
    password = backup.get("backup_password")
    if password is not None and (not isinstance(password, str) or len(password) < 16):
        errors.append("backup_password: needs at least 16 characters (from ansible-vault; the lab makes its own)")
    for key in ("backup_keep_daily", "backup_keep_weekly", "backup_keep_monthly"):
        value = backup.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            errors.append(f"{key}: must be a whole number of snapshots, got {value!r}")
    if backup.get("backup_keep_daily") == 0:
        errors.append("backup_keep_daily: 0 would prune every daily snapshot; keep at least 1")
    for key in ("backup_wal_keep_days", "backup_wal_archive_timeout"):
        value = backup.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            errors.append(f"{key}: must be a whole number >= 0, got {value!r}")
    if backup.get("backup_wal_keep_days") == 0:
        errors.append("backup_wal_keep_days: 0 would empty the WAL spool before it is shipped; keep at least 1")
    pitr = backup.get("backup_postgresql_pitr")
    if pitr is not None and not isinstance(pitr, bool):
        errors.append(f"backup_postgresql_pitr: must be true or false, got {pitr!r}")
    for key in ("backup_schedule", "backup_check_schedule", "backup_drill_schedule", "backup_wal_schedule"):
        value = backup.get(key)
        if value is not None and (not isinstance(value, str) or not ON_CALENDAR.match(value)):
            errors.append(f"{key}: {value!r} is not a systemd OnCalendar expression")
    for path in backup.get("backup_paths") or []:
        if not isinstance(path, str) or not path.startswith("/"):
            errors.append(f"backup_paths: {path!r} is not an absolute path")
    return errors


class FilterModule:
    def filters(self):
        return {"pmops_backup_errors": pmops_backup_errors}
