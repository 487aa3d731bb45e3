""".gitlab-ci.yml: valid for GitLab's schema, and shaped as the project promises: checks before
plans on merge requests, staging before a manual production apply, compliance on schedule
with a JUnit report; every make target and pmops command it calls exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pmops import cli

ROOT = Path(__file__).resolve().parents[2]
CI = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())
def job(name: str) -> dict:
    """A job with its `extends` chain merged (GitLab's deep merge, enough for these keys)."""
    merged: dict = {}
    spec = CI[name]
    parents = spec.get("extends", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        merged.update(job(parent))
    merged.update(spec)
    return merged


def schema_check(path: Path) -> subprocess.CompletedProcess:
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert checker, "check-jsonschema is in requirements.txt"
    return subprocess.run([checker, "--builtin-schema", "vendor.gitlab-ci", str(path)], capture_output=True, text=True)


def test_the_file_is_valid_for_gitlab():
    proc = schema_check(ROOT / ".gitlab-ci.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_catches_a_broken_job(tmp_path):
    broken = dict(CI, lint={"stage": "lint", "scirpt": ["make lint"]})
    (tmp_path / ".gitlab-ci.yml").write_text(yaml.safe_dump(broken))
    assert schema_check(tmp_path / ".gitlab-ci.yml").returncode != 0


def test_stages_run_checks_then_plan_then_apply_then_comply():
    assert CI["stages"] == ["lint", "unit", "molecule", "plan", "apply", "comply"]


@pytest.mark.parametrize("name", ["plan:staging", "plan:production"])
def test_plans_run_on_merge_requests_only_and_keep_their_markdown(name):
    spec = job(name)
    assert [r["if"] for r in spec["rules"]] == ['$CI_PIPELINE_SOURCE == "merge_request_event"']
    assert any("pmops plan" in line for line in spec["script"])
    assert spec["artifacts"]["paths"] == ["plan/"] and spec["artifacts"]["expose_as"]


def test_production_waits_for_staging_and_a_person():
    prod = job("apply:production")
    assert prod["needs"] == ["apply:staging"]
    assert prod["rules"][0]["when"] == "manual" and prod["rules"][0]["allow_failure"] is False
    assert prod["environment"]["name"] == "production" and prod["resource_group"] == "production"
    assert "$CI_DEFAULT_BRANCH" in prod["rules"][0]["if"]
    assert any("pmops apply" in line for line in prod["script"])


def test_compliance_runs_on_schedule_with_a_junit_report():
    spec = job("comply:production")
    assert [r["if"] for r in spec["rules"]] == ['$CI_PIPELINE_SOURCE == "schedule"']
    assert spec["artifacts"]["reports"]["junit"] == "reports/*/junit.xml"
    assert spec["artifacts"]["when"] == "always"


def test_checks_do_not_run_on_schedules():
    for name in ("lint", "unit", "molecule"):
        assert job(name)["rules"][0] == {"if": '$CI_PIPELINE_SOURCE == "schedule"', "when": "never"}


def test_every_make_target_and_pmops_command_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    lines = list(CI["default"]["before_script"])
    for name in CI:
        if isinstance(CI[name], dict):
            lines += [line for line in CI[name].get("script", []) if isinstance(line, str)]
    for line in lines:
        for words in re.findall(r"\bmake ([a-z -]+)", line):
            assert set(words.split()) <= targets, line
        for command in re.findall(r"\bpmops ([a-z]+)", line):
            assert command in commands, line
    for path in re.findall(r"python3 (scripts/\S+)", "\n".join(lines)):
        assert (ROOT / path).exists(), path


def test_the_plan_note_goes_to_the_merge_request_with_the_token():
    sys.path.insert(0, str(ROOT / "scripts"))
    import mr_note

    env = {"PMOPS_MR_NOTE_TOKEN": "t0k", "CI_API_V4_URL": "https://gitlab.example/api/v4", "CI_PROJECT_ID": "42",
           "CI_MERGE_REQUEST_IID": "7"}
    req = mr_note.request("## pmops plan\n**No changes.**", env)
    assert req.full_url == "https://gitlab.example/api/v4/projects/42/merge_requests/7/notes"
    assert req.get_header("Private-token") == "t0k" and b"No changes" in req.data
    with pytest.raises(SystemExit, match="CI_MERGE_REQUEST_IID not set"):
        mr_note.request("x", dict(env, CI_MERGE_REQUEST_IID=""))
