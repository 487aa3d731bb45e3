"""roles/backup/templates/pmops-backup.sh.j2, rendered and run against a stand-in restic: a
session the repository host's sshd dropped before its key exchange (MaxStartups) is tried
again; anything else is not, and nothing that started is sent twice."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jinja2
import pytest
from ansible.plugins.filter.core import FilterModule as CoreFilters

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "roles" / "backup" / "templates"
REFUSED = "subprocess ssh: kex_exchange_identification: read: Connection reset by peer"

# restic's stand-in: the first $REFUSE calls fail as a refused session does, later ones say
# what $LATER says (and exit 1) or succeed; each call's arguments go to calls.log.
RESTIC = """#!/bin/bash
echo "$*" >> "$HERE/calls.log"
n=$(wc -l < "$HERE/calls.log")
if [ "$n" -le "${REFUSE:-0}" ]; then
    echo "$REFUSED_MESSAGE" >&2
    echo "Fatal: unable to start the sftp session, error: EOF" >&2
    exit 1
fi
if [ -n "${LATER:-}" ]; then echo "$LATER" >&2; exit 1; fi
[ "$1" = "-o" ] && shift 2
echo "restic $1 done"
"""


@pytest.fixture
def backup(tmp_path):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
    env.filters.update(CoreFilters().filters())  # Ansible's quote, dirname ..., as the role renders it
    (tmp_path / "restic.env").write_text("RESTIC_REPOSITORY=sftp:bk@repo:/repo\nRESTIC_PASSWORD=x\n")
    script = tmp_path / "pmops-backup"
    script.write_text(env.get_template("pmops-backup.sh.j2").render(
        ansible_managed="test", backup_repository_host="repo", backup_paths=["/etc"], backup_exclude=[],
        backup_check_read_data_subset="1%", __backup_pitr=False, __backup_env_file=tmp_path / "restic.env",
        __backup_sftp_command="ssh bk@repo -s sftp", backup_textfile_dir=tmp_path, __backup_databases=[],
        backup_keep_daily=7, backup_keep_weekly=4, backup_keep_monthly=6,
        __backup_stamp_file=tmp_path / "stamp", inventory_hostname="gen-01"))
    script.chmod(0o755)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "restic").write_text(RESTIC)
    (bin_ / "sleep").write_text("#!/bin/sh\necho \"$1\" >> \"$HERE/sleeps.log\"\n")  # the pauses, not waited
    for tool in bin_.iterdir():
        tool.chmod(0o755)

    scratch = tmp_path / "tmp"
    scratch.mkdir()

    def run(*args, **env):
        proc = subprocess.run([str(script), *args], capture_output=True, text=True,
                              env={"PATH": f"{bin_}:/usr/bin:/bin", "HERE": str(tmp_path), "TMPDIR": str(scratch),
                                   "REFUSED_MESSAGE": REFUSED, **{k: str(v) for k, v in env.items()}})
        assert list(scratch.iterdir()) == [], "a temporary file was left behind"
        calls = tmp_path / "calls.log"
        sleeps = tmp_path / "sleeps.log"
        result = (proc.returncode, proc.stdout, proc.stderr,
                  calls.read_text().splitlines() if calls.exists() else [],
                  [int(s) for s in sleeps.read_text().split()] if sleeps.exists() else [])
        for log in (calls, sleeps):
            log.unlink(missing_ok=True)
        return result

    return run


def test_init_is_tried_again_while_the_repository_host_refuses_sessions(backup):
    rc, out, err, calls, sleeps = backup("init", REFUSE=2)
    assert rc == 0 and out == "restic init done\n" and len(calls) == 3
    # the spread: 1-3 s after the first refusal, 2-6 s after the second
    assert 1 <= sleeps[0] <= 3 and 2 <= sleeps[1] <= 6
    # restic's messages as they came, each try's, with what is done about them
    assert err.count("kex_exchange_identification") == 2 and err.count("trying again in") == 2


def test_it_gives_up_after_four_tries_with_restic_s_own_message(backup):
    rc, _, err, calls, sleeps = backup("init", REFUSE=9)
    assert rc == 1 and len(calls) == 4 and len(sleeps) == 3
    assert "kex_exchange_identification" in err and "unable to start the sftp session" in err


def test_a_refused_key_is_not_tried_again(backup):
    rc, _, err, calls, sleeps = backup("init", LATER="bk@repo: Permission denied (publickey).")
    assert rc == 1 and len(calls) == 1 and sleeps == [] and "Permission denied" in err


def test_a_session_that_broke_once_started_is_not_tried_again(backup):
    rc, out, err, calls, sleeps = backup("check", LATER="client_loop: send disconnect: Connection reset by peer")
    assert rc == 1 and len(calls) == 1 and sleeps == [] and "Connection reset" in err and "CHECK FAILED" in out


def test_exists_says_unreachable_only_after_its_tries(backup):
    rc, _, err, calls, _ = backup("exists", REFUSE=9)
    assert rc == 1 and len(calls) == 4 and "unreachable" in err
    rc, _, _, calls, _ = backup("exists", REFUSE=1, LATER="Fatal: unable to open config file: does not exist")
    assert rc == 10 and len(calls) == 2


def test_the_restic_passthrough_is_restic_itself_never_tried_again(backup):
    # restores stream through it into pg_restore or tar: a second try would send data twice
    rc, out, _, calls, _ = backup("restic", "snapshots", "--json")
    assert rc == 0 and out == "restic snapshots done\n" and calls[0].endswith("snapshots --json")
    rc, _, err, calls, _ = backup("restic", "dump", "latest", "/db.dump", REFUSE=1)
    assert rc == 1 and len(calls) == 1 and "kex_exchange_identification" in err
