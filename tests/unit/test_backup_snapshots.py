"""pmops_backup_snapshots and its helpers, with restic replaced by a script printing JSON."""

from __future__ import annotations

import datetime
import importlib.util
import json
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import module_utils.pmops_backup as helpers  # noqa: E402

sys.modules["ansible.module_utils.pmops_backup"] = helpers
from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402

NOW = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.timezone.utc)
SNAPS = [
    {"time": "2026-11-24T10:00:00.123456789+00:00", "hostname": "db-01", "tags": ["postgresql"],
     "paths": ["/marketing.dump"], "id": "a" * 64, "short_id": "aaaaaaaa"},
    {"time": "2026-11-22T20:00:00+08:00", "hostname": "db-01", "tags": ["etc"], "paths": ["/etc"],
     "id": "b" * 64, "short_id": "bbbbbbbb"},
    {"time": "2026-11-23T10:00:00Z", "hostname": "db-01", "tags": ["postgresql"], "paths": ["/marketing.dump"],
     "id": "c" * 64, "short_id": "cccccccc"},
]


def test_times_with_nanoseconds_and_zones_parse():
    assert helpers.parse_time("2026-11-24T10:00:00.123456789+08:00").utcoffset() == datetime.timedelta(hours=8)
    assert helpers.parse_time("2026-11-24T10:00:00Z").tzinfo is not None
    with pytest.raises(ValueError):
        helpers.parse_time("2026-11-24T10:00:00")
    with pytest.raises(ValueError):
        helpers.parse_time("")


def test_summary_is_newest_first_with_ages():
    summary = helpers.summarise(SNAPS, NOW)
    assert [s["short_id"] for s in summary] == ["aaaaaaaa", "cccccccc", "bbbbbbbb"]
    assert summary[0]["age_seconds"] == 7200
    assert summary[2]["age_seconds"] == 48 * 3600  # 20:00 at +08:00 on the 22nd is 12:00 UTC


def test_latest_per_tag_and_staleness():
    summary = helpers.summarise(SNAPS, NOW)
    latest = helpers.latest_by_tag(summary)
    assert latest["postgresql"]["short_id"] == "aaaaaaaa" and latest["etc"]["short_id"] == "bbbbbbbb"
    assert helpers.stale(summary, {"postgresql": 3 * 3600}) == []
    problems = helpers.stale(summary, {"postgresql": 3600, "etc": 24 * 3600, "files": 3600})
    assert problems == ["etc: newest snapshot bbbbbbbb is 48 h old (allowed 24 h)",
                        "files: no snapshot at all",
                        "postgresql: newest snapshot aaaaaaaa is 2 h old (allowed 1 h)"]


def fake_restic(tmp_path, payload: str, rc: int = 0) -> str:
    script = tmp_path / "restic"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/argv\ncat <<'EOF'\n{payload}\nEOF\nexit {rc}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def run(args: dict, capsys, check: bool = False) -> dict:
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check)}))
    basic._ANSIBLE_PROFILE = "legacy"
    spec = importlib.util.spec_from_file_location("m", ROOT / "library" / "pmops_backup_snapshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_module_reports_and_passes_tags_and_host(tmp_path, capsys):
    restic = fake_restic(tmp_path, json.dumps(SNAPS))
    out = run({"repository": "sftp:r@b:/x", "password_file": "/p", "restic": restic, "tags": ["postgresql"],
               "host": "db-01"}, capsys, check=True)
    assert out["changed"] is False and out["count"] == 3 and out["stale"] == []
    assert (tmp_path / "argv").read_text().split() == ["--no-lock", "snapshots", "--json", "--tag", "postgresql",
                                                        "--host", "db-01"]


def test_module_fails_when_stale_and_asked_to(tmp_path, capsys):
    restic = fake_restic(tmp_path, json.dumps(SNAPS))
    out = run({"repository": "r", "password_file": "/p", "restic": restic, "max_age_hours": {"files": 1},
               "fail_when_stale": True}, capsys)
    assert out["failed"] and "files: no snapshot at all" in out["msg"]


def test_module_names_the_repository_when_restic_fails(tmp_path, capsys):
    restic = fake_restic(tmp_path, "Fatal: unable to open repository", rc=1)
    out = run({"repository": "sftp:r@backup-01:/x", "password_file": "/p", "restic": restic}, capsys)
    assert out["failed"] and "sftp:r@backup-01:/x" in out["msg"] and "unable to open" in out["msg"]


def test_bad_max_age_is_a_clear_error(tmp_path, capsys):
    out = run({"repository": "r", "password_file": "/p", "restic": fake_restic(tmp_path, "[]"),
               "max_age_hours": {"x": "soon"}}, capsys)
    assert out["failed"] and "max_age_hours" in out["msg"]
