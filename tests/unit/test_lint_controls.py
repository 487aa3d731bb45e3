"""scripts/lint_controls.py: tasks, tags and waiver gates agree with the control catalogue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lint_controls

ROOT = Path(__file__).resolve().parents[2]
CONTROLS = [{"id": "HARD-05", "tags": ["hardening_sudo"]}, {"id": "HARD-06", "tags": ["hardening_cron"]}]
SUDO = {"name": "Write the sudo defaults", "ansible.builtin.template": {"src": "s.j2", "dest": "/etc/sudoers.d/x"}}
CRON = {"name": "Allow cron", "ansible.builtin.template": {"src": "c.j2", "dest": "/etc/cron.allow"},
        "tags": ["hardening_cron", "HARD-06"]}
WAIVED = {"name": "Read the controls waived on this host", "ansible.builtin.set_fact": {"__hardening_waived": []},
          "tags": ["always"]}


def tree(tmp_path: Path, roles: dict, controls=CONTROLS, **sections) -> Path:
    """roles: {role: {file: [tasks]}}; sections: operational=..., unclaimed_pending=..., tags_pending=..."""
    (tmp_path / "controls").mkdir(parents=True)
    (tmp_path / "controls" / "catalogue.yml").write_text(yaml.safe_dump({"controls": controls, **sections}))
    for role, files in roles.items():
        for path, content in files.items():
            target = tmp_path / "roles" / role / ("tasks/" + path if "/" not in path else path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump(content))
    return tmp_path


def run(tmp_path: Path, roles: dict, **kw) -> lint_controls.Result:
    return lint_controls.lint(tree(tmp_path, roles, **kw))


def hardening(*tasks) -> dict:
    """The hardening role with the cron task (so HARD-06 agrees) and the given tasks in main.yml."""
    return {"hardening": {"main.yml": [CRON, *tasks]}}


def test_a_claimed_task_passes(tmp_path):
    result = run(tmp_path, hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05"])))
    assert result.problems == []
    assert result.counts["claimed"] == 2 and result.counts["operational"] == 0


def test_an_unclaimed_changing_task_fails_with_its_file_and_name(tmp_path):
    roles = dict(hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05"])),
                 app={"main.yml": [{"name": "Restart the app", "ansible.builtin.systemd_service": {"name": "app"}}]})
    result = run(tmp_path, roles)
    assert result.problems == [
        "roles/app/tasks/main.yml: 'Restart the app' changes a host but claims no control: tag it with the control "
        "id it enforces, or list it under operational or unclaimed_pending in controls/catalogue.yml"]
    assert lint_controls.main(["--root", str(tmp_path)]) == 1


def test_a_tag_inherited_through_import_tasks_counts(tmp_path):
    roles = hardening({"name": "Sudo defaults", "ansible.builtin.import_tasks": "sudo.yml",
                       "tags": ["hardening_sudo", "HARD-05"]})
    roles["hardening"]["sudo.yml"] = [SUDO]
    result = run(tmp_path, roles)
    assert result.problems == [] and result.counts["claimed"] == 2


def test_a_tag_on_include_tasks_does_not_reach_its_tasks(tmp_path):
    # Ansible: tags on a dynamic include apply to the include only.
    roles = hardening({"name": "Sudo defaults", "ansible.builtin.include_tasks": "sudo.yml",
                       "tags": ["hardening_sudo", "HARD-05"]})
    roles["hardening"]["sudo.yml"] = [SUDO]
    problems = run(tmp_path, roles).problems
    assert any("sudo.yml: 'Write the sudo defaults' changes a host but claims no control" in p for p in problems)


def test_a_tag_inherited_from_a_block_counts(tmp_path):
    roles = hardening({"name": "Sudo", "tags": ["hardening_sudo", "HARD-05"], "when": "x",
                       "block": [SUDO], "always": [dict(SUDO, name="Clean up")]})
    result = run(tmp_path, roles)
    assert result.problems == [] and result.counts["claimed"] == 3


@pytest.mark.parametrize("task", [
    dict(SUDO, changed_when=False),
    dict(SUDO, check_mode=True, register="plan"),
    {"name": "Say", "ansible.builtin.debug": {"msg": "hi"}},
    {"name": "Read", "stat": {"path": "/etc"}},
    {"name": "Ask", "ansible.builtin.uri": {"url": "http://x/healthz"}},
])
def test_read_only_tasks_need_no_claim(tmp_path, task):
    roles = dict(hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05"])), app={"main.yml": [task]})
    result = run(tmp_path, roles)
    assert result.problems == [] and result.counts["read_only"] == 1


@pytest.mark.parametrize("task", [
    dict(SUDO, changed_when="false_if_nothing"),
    dict(SUDO, check_mode=True),
    {"name": "Post", "ansible.builtin.uri": {"url": "http://x/", "method": "POST"}},
    {"name": "Download", "ansible.builtin.uri": {"url": "http://x/", "dest": "/tmp/x"}},
])
def test_tasks_that_may_change_need_a_claim(tmp_path, task):
    roles = dict(hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05"])), app={"main.yml": [task]})
    assert any("changes a host but claims no control" in p for p in run(tmp_path, roles).problems)


def test_an_unknown_control_id_fails(tmp_path):
    problems = run(tmp_path, hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05", "HARD-99"]))).problems
    assert problems == ["roles/hardening/tasks/main.yml: 'Write the sudo defaults': tag HARD-99 is not a control id "
                        "in controls/catalogue.yml"]


def test_a_control_tag_that_never_meets_its_id_fails_unless_pending(tmp_path):
    controls = CONTROLS + [{"id": "HARD-07", "tags": ["hardening_banner", "hardening_sudo"]}]
    roles = hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05"]),
                      {"name": "Banner", "copy": {"dest": "/etc/issue"}, "tags": ["hardening_banner", "HARD-07"]})
    problems = run(tmp_path, roles, controls=controls).problems
    assert problems == ["HARD-07: its tag 'hardening_sudo' is on no task that also carries HARD-07 (tag the task "
                        "with HARD-07, or fix the catalogue's tags)"]
    pending = [{"control": "HARD-07", "tag": "hardening_sudo", "reason": "shared with HARD-05"}]
    result = run(tmp_path / "b", roles, controls=controls, tags_pending=pending)
    assert result.problems == [] and result.counts["tags_pending"] == 1
    assert "HARD-07/hardening_sudo" in result.warnings[0]


def test_a_tag_pending_that_agrees_now_must_go(tmp_path):
    pending = [{"control": "HARD-05", "tag": "hardening_sudo", "reason": "r"}]
    problems = run(tmp_path, hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05"])), tags_pending=pending).problems
    assert problems == ["controls/catalogue.yml: tags_pending lists HARD-05 / hardening_sudo, but a task carries "
                        "both now; remove the entry"]


def import_sudo(**kw) -> dict:
    return {"name": "Sudo defaults", "ansible.builtin.import_tasks": "sudo.yml", **kw}


@pytest.mark.parametrize(("gate", "expected"), [
    ("hardening_sudo_enabled and 'HARD-05' not in __hardening_waived", None),
    (["hardening_sudo_enabled", "\"HARD-05\" not in __hardening_waived"], None),
    ("hardening_sudo_enabled", "import_tasks carries HARD-05 but its when has no 'HARD-05' not in __hardening_waived"),
    ("'HARD-06' not in __hardening_waived",
     "import_tasks is gated on HARD-06 but tagged HARD-05; gate it on its own id"),
])
def test_imports_are_gated_on_their_own_control_id(tmp_path, gate, expected):
    roles = hardening(WAIVED, import_sudo(when=gate, tags=["hardening_sudo", "HARD-05"]))
    roles["hardening"]["sudo.yml"] = [SUDO]
    roles["hardening"]["main.yml"][0] = dict(CRON, when="'HARD-06' not in __hardening_waived")
    problems = run(tmp_path, roles).problems
    assert problems == ([] if expected is None else [f"roles/hardening/tasks/main.yml: 'Sudo defaults': {expected}"])


def test_an_import_serving_two_controls_is_gated_on_one_of_them(tmp_path):
    controls = CONTROLS + [{"id": "HARD-07", "tags": ["hardening_sudo"]}]
    roles = hardening(WAIVED, import_sudo(when="'HARD-05' not in __hardening_waived",
                                          tags=["hardening_sudo", "HARD-05", "HARD-07"]))
    roles["hardening"]["sudo.yml"] = [SUDO]
    roles["hardening"]["main.yml"][0] = dict(CRON, when="'HARD-06' not in __hardening_waived")
    assert run(tmp_path, roles, controls=controls).problems == []


def test_roles_without_a_waived_list_need_no_gate(tmp_path):
    roles = hardening(import_sudo(tags=["hardening_sudo", "HARD-05"]))
    roles["hardening"]["sudo.yml"] = [SUDO]
    assert run(tmp_path, roles).problems == []


def test_operational_and_pending_listings_pass_and_are_counted(tmp_path):
    roles = dict(hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05"])),
                 app={"main.yml": [{"name": "Restart the app", "systemd_service": {"name": "app"}},
                                   {"name": "Switch", "ansible.builtin.import_tasks": "switch.yml"},
                                   {"name": "Sandbox", "template": {"dest": "/etc/systemd/system/app.service"}}],
                      "switch.yml": [{"name": "Link", "file": {"path": "/opt/app/current", "state": "link"}}]})
    result = run(tmp_path, roles,
                 operational=[{"role": "app", "tasks": ["Restart the app", "switch.yml"], "reason": "deploys"}],
                 unclaimed_pending=[{"role": "app", "tasks": ["Sandbox"], "reason": "no control yet"}])
    assert result.problems == []
    assert (result.counts["operational"], result.counts["unclaimed_pending"]) == (2, 1)
    assert result.warnings[0].startswith("WARNING: 1 tasks change hosts for security")


@pytest.mark.parametrize(("operational", "expected"), [
    ([{"role": "hardening", "tasks": ["Write the sudo defaults"], "reason": "r"}],
     "controls/catalogue.yml: operational lists 'Write the sudo defaults' of role hardening, which names no task of "
     "that role that changes a host and claims no control; remove it"),
    ([{"role": "hardening", "tasks": ["Gone"], "reason": "r"}], "operational lists 'Gone' of role hardening"),
    ([{"role": "nope", "tasks": ["x"], "reason": "r"}], "operational #1: role 'nope' is not a role with tasks"),
    ([{"role": "hardening", "tasks": ["Write the sudo defaults"]}], "a reason is required"),
])
def test_a_wrong_or_stale_listing_fails(tmp_path, operational, expected):
    roles = hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05"]))
    problems = run(tmp_path, roles, operational=operational).problems
    assert any(expected in p for p in problems), problems


def test_a_task_listed_twice_fails(tmp_path):
    roles = dict(hardening(dict(SUDO, tags=["hardening_sudo", "HARD-05"])),
                 app={"main.yml": [{"name": "Restart the app", "systemd_service": {"name": "app"}}]})
    entry = [{"role": "app", "tasks": ["main.yml"], "reason": "r"}]
    problems = run(tmp_path, roles, operational=entry, unclaimed_pending=entry).problems
    assert problems == ["roles/app/tasks/main.yml: 'Restart the app' is listed under both operational and "
                        "unclaimed_pending"]


def test_a_task_is_claimed_through_item_checks_of_its_feature_tag(tmp_path):
    # One sshd_config serves several controls: a read-only check names each per loop item.
    controls = [{"id": "SSH-01", "tags": ["ssh_config"]}]
    roles = {"ssh": {"main.yml": [{"name": "Configure", "import_tasks": "config.yml", "tags": ["ssh_config"]}],
                     "config.yml": [{"name": "Install sshd_config", "template": {"dest": "/etc/ssh/sshd_config"}}],
                     "vars/main.yml": {"__ssh_settings": [{"control": "SSH-01", "key": "permitrootlogin"}]}}}
    result = run(tmp_path, roles, controls=controls)
    assert result.problems == [] and result.counts["through_items"] == 1
    assert "by SSH-01 (through item checks)" in "\n".join(result.listing)


def test_the_repository_passes():
    done = subprocess.run([sys.executable, "scripts/lint_controls.py"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("lint_controls: ok, ") and len(done.stdout.splitlines()) == 1
