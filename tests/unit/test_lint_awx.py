"""scripts/lint_awx.py: the controller as code is valid offline, and each kind of mistake AWX
(or the module) would refuse is named before anything reaches a controller."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lint_awx", ROOT / "scripts" / "lint_awx.py")
lint_awx = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lint_awx)

GOOD_PREFIX = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/awx.awx.controller:
      controller_host: https://awx.example
  tasks:
    - name: org
      awx.awx.organization: {name: O}
    - name: project
      awx.awx.project: {name: P, organization: O, scm_type: git, scm_url: https://git.example/p.git}
    - name: inventory
      awx.awx.inventory: {name: I, organization: O}
    - name: ee
      awx.awx.execution_environment: {name: E, image: "registry.example/ee:1"}
"""


def lint_text(tmp_path, tasks: str, defaults: str = "{}") -> list[str]:
    controller = tmp_path / "controller.yml"
    controller.write_text(GOOD_PREFIX + textwrap.indent(textwrap.dedent(tasks), "    "))
    (tmp_path / "defaults.yml").write_text(defaults)
    # messages name the file relative to the project
    return [e.split(": ", 1)[1] for e in lint_awx.lint(controller, tmp_path / "defaults.yml")]


@pytest.fixture
def inside_project(monkeypatch, tmp_path):
    """A throw-away project: the test's directory's parent, with playbooks/ of its own."""
    monkeypatch.setattr(lint_awx, "ROOT", tmp_path.parent)
    (tmp_path.parent / "playbooks").mkdir(exist_ok=True)


def test_the_projects_controller_as_code_is_valid():
    assert lint_awx.lint() == []


def test_a_valid_template_and_schedule_pass(inside_project, tmp_path):
    (tmp_path.parent / "playbooks" / "comply.yml").write_text("- hosts: all\n  tasks: []\n")
    errors = lint_text(tmp_path, """
        - name: jt
          awx.awx.job_template: {name: J, project: P, inventory: I, playbook: playbooks/comply.yml, job_slice_count: 4}
        - name: nightly
          awx.awx.schedule: {name: S, unified_job_template: J, rrule: "{{ rule }}"}
    """, defaults='rule: "DTSTART;TZID=Asia/Shanghai:20261201T020000 RRULE:FREQ=DAILY;INTERVAL=1"\n')
    assert errors == []


@pytest.mark.parametrize("task, message", [
    ("awx.awx.job_template: {name: J, project: P, playbook: playbooks/x.yml, ask_limt_on_launch: true}",
     "ask_limt_on_launch"),
    ("awx.awx.job_template: {name: J, project: P, playbook: playbooks/x.yml, job_slice_count: four}",
     "job_slice_count"),
    ("awx.awx.job_template: {name: J, project: P, playbook: playbooks/x.yml, verbosity: 9}",
     "value of verbosity must be one of"),
    ("awx.awx.job_template: {project: P, playbook: playbooks/x.yml}", "missing required arguments: name"),
    ("awx.awx.inventory_source: {name: S, inventory: I, source: file}", "value of source must be one of"),
    ("awx.awx.job_template: {name: J, project: Q, playbook: playbooks/x.yml}",
     "project 'Q': no earlier task makes that project"),
    ("awx.awx.job_template: {name: J, project: P, playbook: playbooks/none.yml}",
     "playbook 'playbooks/none.yml' is not in the project"),
    ("awx.awx.schedule: {name: S, unified_job_template: K, rrule: 'DTSTART;TZID=UTC:20261201T020000 RRULE:FREQ=DAILY;INTERVAL=1'}",
     "unified_job_template 'K': no earlier task makes that job template"),
    ("awx.awx.execution_environment: {name: F, image: registry.example/ee}", "has no tag"),
])
def test_a_mistake_is_named_with_its_task(inside_project, tmp_path, task, message):
    (tmp_path.parent / "playbooks" / "x.yml").write_text("- hosts: all\n  tasks: []\n")
    errors = lint_text(tmp_path, f"- name: broken\n  {task}\n")
    assert any(message in e for e in errors), errors
    assert all(e.startswith("task 'broken'") for e in errors), errors


@pytest.mark.parametrize("rule, message", [
    ("DTSTART;TZID=Asia/Shanghai:20261201T020000 RRULE:FREQ=DAILY", "has no INTERVAL"),
    ("DTSTART:20261201T020000 RRULE:FREQ=DAILY;INTERVAL=1", "needs a time zone"),
    ("DTSTART;TZID=Asia/Shangai:20261201T020000 RRULE:FREQ=DAILY;INTERVAL=1", "unknown time zone 'Asia/Shangai'"),
    ("DTSTART:20261201T180000Z RRULE:FREQ=SECONDLY;INTERVAL=1", "SECONDLY"),
    ("DTSTART:20261201T180000Z RRULE:FREQ=DAILY;INTERVAL=1;COUNT=5;UNTIL=20270101T000000Z", "COUNT and UNTIL"),
    ("DTSTART:20261201T180000Z RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=1MO", "BYDAY with a number"),
    ("DTSTART:20261201T180000Z DTSTART:20261202T180000Z RRULE:FREQ=DAILY;INTERVAL=1", "exactly one DTSTART"),
])
def test_a_schedule_awx_would_refuse_is_refused(rule, message):
    assert any(message in e for e in lint_awx.rrule_errors(rule)), lint_awx.rrule_errors(rule)


def test_the_nightly_rule_is_two_in_the_morning_in_beijing():
    import datetime

    import dateutil.rrule
    import yaml

    rule = yaml.safe_load((ROOT / "awx" / "defaults.yml").read_text())["awx_compliance_rrule"]
    assert lint_awx.rrule_errors(rule) == []
    first = next(iter(dateutil.rrule.rrulestr(rule, forceset=True)))
    assert first.astimezone(datetime.timezone.utc).strftime("%H:%M") == "18:00"  # 02:00 +08:00


def test_slicing_a_playbook_with_an_orchestrating_play_is_refused(inside_project, tmp_path):
    (tmp_path.parent / "playbooks" / "inner.yml").write_text(
        "- name: Roll out\n  hosts: app\n  vars:\n    pmops_orchestrating: true\n  tasks: []\n")
    (tmp_path.parent / "playbooks" / "outer.yml").write_text("- ansible.builtin.import_playbook: inner.yml\n")
    errors = lint_text(tmp_path, """
        - name: jt
          awx.awx.job_template: {name: J, project: P, inventory: I, playbook: playbooks/outer.yml, job_slice_count: 3}
    """)
    assert errors == ["task 'jt': job_slice_count 3: playbooks/outer.yml has a play that needs the whole inventory "
                      "(playbooks/inner.yml: Roll out); slice only per-host playbooks"]


def test_a_survey_awx_would_refuse_is_named(tmp_path):
    assert lint_awx.survey_errors({"name": "R", "description": "", "spec": [
        {"question_name": "Release", "variable": "v", "type": "string", "required": "yes"},
        {"question_name": "Again", "variable": "v", "type": "text", "required": True}]}) == [
        "survey question 1: type 'string' is not one of ['float', 'integer', 'multiplechoice', 'multiselect', "
        "'password', 'text', 'textarea']",
        "survey question 1: required must be true or false",
        "survey question 2: variable 'v' asked twice"]
