"""The day-to-day changes through pmops: deploy, rollback, patch, backup, restore and the
enrolment of a person's second factor.

Each runs its playbook (plain `ansible-playbook` runs the same ones) and appends a record to
the run log that `pmops history` lists: who, when, the git commit, inventory, limit, the
request, each host's changed tasks and the result. A failed run is recorded as failed; a
deploy stopped by a failed health check as "failed, rolled back", with the host, the check
and the release it went back to, read from the rollout's own report.

Layer: command, on top of change.run_recorded() (and so of pmops.runner).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pmops import PmopsError
from pmops.change import run_recorded
from pmops.paths import CACHE, ROOT

DEPLOY_REPORTS = CACHE / "deploy"
PATCH_REPORTS = CACHE / "patch"
# What the playbooks accept (they check again, for those who run them directly).
RELEASE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
DATABASE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
LOGIN = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
# The key google-authenticator made (base32), as the enrolment shows it once.
OTP_KEY = re.compile(r"(key |secret=)[A-Z2-7]{16,}")
SNAPSHOT = re.compile(r"^(latest|[0-9a-f]{8,64})$")
PITR_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.]+([+-][0-9:]+|Z| UTC)?$")


def _newer(directory: Path, pattern: str, started: float) -> Path | None:
    """The newest entry matching pattern written since the run started."""
    found = [p for p in directory.glob(pattern) if p.stat().st_mtime >= started - 1]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def deploy_outcome(version: str):
    def outcome(result, started: float) -> dict:
        report = _newer(DEPLOY_REPORTS, f"*-{version}.json", started) if DEPLOY_REPORTS.exists() else None
        if report is None:
            return {}
        body = json.loads(report.read_text())
        extra = {"report": str(report.relative_to(ROOT)), "hosts": body.get("hosts", [])}
        if body.get("result") == "stopped":
            extra.update(result="failed, rolled back" if body.get("rolled_back_to") else "failed",
                         failed_host=body.get("failed_host"), failed_check=body.get("failed_check"),
                         rolled_back_to=body.get("rolled_back_to"), not_started=body.get("not_started", []))
        return extra
    return outcome


def patch_outcome(result, started: float) -> dict:
    run = _newer(PATCH_REPORTS, "*", started) if PATCH_REPORTS.exists() else None
    return {"reports": str(run.relative_to(ROOT))} if run else {}


def run_deploy(version: str, inventory: str, limit: str | None = None, verbose: bool = False,
               artifact_dir: str | None = None) -> int:
    if not RELEASE.match(version):
        raise PmopsError(f"VERSION must be a release name such as 1.1.0, got {version!r}")
    request = {"app_version": version}
    if artifact_dir:
        if not Path(artifact_dir).is_dir():
            raise PmopsError(f"--artifact-dir {artifact_dir} is not a directory")
        request["app_artifact_dir"] = str(Path(artifact_dir).resolve())
    rc, _ = run_recorded("deploy", "playbooks/deploy.yml", inventory, limit, extravars=request,
                         verbose=verbose, outcome=deploy_outcome(version))
    return rc


def run_rollback(to: str | None, inventory: str, limit: str | None = None, verbose: bool = False) -> int:
    target = to or "previous"
    if not RELEASE.match(target):
        raise PmopsError(f"TO must be `previous` or a release name such as 1.0.0, got {target!r}")
    rc, _ = run_recorded("rollback", "playbooks/rollback.yml", inventory, limit, extravars={"rollback_to": target},
                         verbose=verbose)
    return rc


def run_patch(inventory: str, limit: str | None = None, reboot: bool = False, verbose: bool = False) -> int:
    # The play on localhost names the run's report directory: a limit to some hosts keeps it.
    if limit and "localhost" not in limit.split(","):
        limit = f"{limit},localhost"
    rc, _ = run_recorded("patch", "playbooks/patch.yml", inventory, limit,
                         extravars={"patch_reboot": True} if reboot else None, verbose=verbose, outcome=patch_outcome)
    return rc


def run_backup(inventory: str, limit: str | None = None, verbose: bool = False) -> int:
    rc, _ = run_recorded("backup", "playbooks/backup-now.yml", inventory, limit, verbose=verbose)
    return rc


def restore_request(database: str | None = None, paths: list[str] | None = None, pitr_target: str | None = None,
                    snapshot: str = "latest", to: str = "side", confirm: bool = False) -> dict:
    """The extra variables of restore.yml, checked before Ansible starts (the play checks them again)."""
    named = [x for x in (database, paths, pitr_target) if x]
    if len(named) != 1:
        raise PmopsError("name exactly one of --database, --path or --pitr-target")
    if database and not DATABASE.match(database):
        raise PmopsError(f"--database must be a PostgreSQL database name, got {database!r}")
    for path in paths or []:
        if not path.startswith("/"):
            raise PmopsError(f"--path must be absolute, got {path!r}")
    if pitr_target and not PITR_TIME.match(pitr_target):
        raise PmopsError(f"--pitr-target must be a time such as '2026-11-24 18:30:00+00', got {pitr_target!r}")
    if pitr_target and to != "original":
        raise PmopsError("--pitr-target recovers the whole cluster in place: it needs --to original --confirm")
    if not SNAPSHOT.match(snapshot):
        raise PmopsError(f"--snapshot must be latest or a snapshot id (8 to 64 hex digits), got {snapshot!r}")
    if to == "original" and not confirm:
        raise PmopsError("--to original replaces live data: add --confirm. Nothing was changed.")
    request: dict = {"restore_snapshot": snapshot, "restore_to": to, "restore_confirm": "yes" if confirm else "no"}
    if database:
        request["restore_database"] = database
    if paths:
        request["restore_paths"] = list(paths)
    if pitr_target:
        request["restore_pitr_target"] = pitr_target
    return request


def run_restore(inventory: str, limit: str | None, request: dict, verbose: bool = False) -> int:
    if not limit:
        raise PmopsError("name the host to restore on with -l/--limit (for example -l db-01)")
    rc, _ = run_recorded("restore", "playbooks/restore.yml", inventory, limit, extravars=request, verbose=verbose)
    return rc


def run_restore_drill(inventory: str, limit: str | None = None, verbose: bool = False) -> int:
    rc, _ = run_recorded("restore-drill", "playbooks/restore-drill.yml", inventory, limit, verbose=verbose)
    return rc


def redact_otp_key(text: str) -> str:
    """The enrolment's output as kept beside the run log: the key is shown once, never kept."""
    return OTP_KEY.sub(lambda m: m.group(1) + "(shown once, not kept)", text)


def run_otp_enrol(login: str, rotate: bool, inventory: str, limit: str | None = None) -> int:
    """Enrol a person for the second factor (playbooks/otp-enrol.yml). Ansible's output is
    always shown: it carries the new key, once."""
    if not LOGIN.match(login):
        raise PmopsError(f"LOGIN must be a person's login such as li.wei, got {login!r}")
    rc, _ = run_recorded("otp-enrol", "playbooks/otp-enrol.yml", inventory, limit,
                         extravars={"otp_person": login, "otp_rotate": rotate}, verbose=True,
                         redact=redact_otp_key)
    return rc
