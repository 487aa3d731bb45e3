"""make lint's structure rules: playbooks call roles only; no role reads another's private variables;
every role's switches, tags, specs, main.yml length and tests agree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lint_structure", ROOT / "scripts" / "lint_structure.py")
lint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lint)


def tree(tmp_path: Path, playbook: str, files: dict[str, str]) -> Path:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "site.yml").write_text(playbook)
    for name, text in files.items():
        path = tmp_path / "roles" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # Roles with neither switches nor a scenario say why (the shape rules are tested below).
    (tmp_path / "docs").mkdir(exist_ok=True)
    reasons = {role.name: {"molecule": "the lab", "switches": "one step"}
               for role in (tmp_path / "roles").iterdir() if role.name not in SHAPED}
    (tmp_path / "docs" / "roles.yml").write_text(yaml.safe_dump(reasons))
    return tmp_path


SHAPED = {"web"}  # the role the shape tests build with switches


GOOD_PLAY = """
- name: Validate
  ansible.builtin.import_playbook: validate.yml
- name: Web
  hosts: web
  serial: 1
  vars:
    pmops_orchestrating: true
  become: true
  roles: [nginx]
  tasks:
    - name: Drain
      ansible.builtin.include_role:
        name: nginx
        tasks_from: proxies
      vars:
        nginx_member_state: drained
"""


def test_a_playbook_of_role_calls_and_self_contained_roles_pass(tmp_path):
    root = tree(tmp_path, GOOD_PLAY, {"nginx/tasks/main.yml": "- name: x\n  ansible.builtin.debug:\n    msg: '{{ __nginx_x }}'\n",
                                      "login_canary/tasks/main.yml": "- debug: {msg: '{{ __login_canary_dir }}'}\n",
                                      "login/tasks/main.yml": "- debug: {msg: '{{ __login_shell }}'}\n"})
    assert lint.check(root) == []


def test_a_rolling_play_not_marked_orchestrating_is_named(tmp_path):
    root = tree(tmp_path, GOOD_PLAY.replace("    pmops_orchestrating: true\n", "    other: 1\n"), {"nginx/tasks/main.yml": "- debug: {}\n"})
    assert lint.check(root) == ["playbooks/site.yml: play 2 (Web): rolls over its hosts (`serial`), so it needs the "
                                "whole inventory: mark it `pmops_orchestrating: true` in its vars (not sliceable, "
                                "docs/awx.md)"]


def test_task_logic_in_a_playbook_is_named(tmp_path):
    root = tree(tmp_path, """
- name: Deploy
  hosts: app
  handlers:
    - name: Restart
      ansible.builtin.systemd_service: {name: x, state: restarted}
  tasks:
    - name: What this host runs now
      pmops_app_release: {path: /opt/x, state: list}
      register: __rollback_before
    - name: Roll out
      ansible.builtin.include_role: {name: app, tasks_from: rollout}
      register: r
""", {"app/tasks/main.yml": "[]\n"})
    problems = lint.check(root)
    assert "playbooks/site.yml: play 1 (Deploy): handlers `Restart` is task logic; move it into a role entry point" in problems
    assert any("`What this host runs now` is task logic" in p for p in problems)
    assert any("`Roll out` calls a role but also has ['register']" in p for p in problems)


def test_a_private_variable_of_another_role_is_refused_in_a_role_and_in_a_playbook(tmp_path):
    root = tree(tmp_path, GOOD_PLAY + "      when: __app_switched.current is defined\n",
                {"app/tasks/main.yml": "[]\n",
                 "hardening/tasks/pam.yml": "- name: canary\n  vars:\n    __ssh_canary_pam: x\n",
                 "ssh/tasks/main.yml": "- debug: {msg: '{{ __ssh_config }}'}\n"})
    problems = lint.check(root)
    assert "roles/hardening/tasks/pam.yml:3: refers to the ssh role's private variable __ssh_canary_pam; " \
           "use an input, an output or an entry point of ssh" in problems
    assert any(p.startswith("playbooks/site.yml:") and "the app role's private variable __app_switched" in p
               for p in problems)
    assert len(problems) == 2


def test_the_repository_passes(capsys):
    assert lint.main(["--root", str(ROOT)]) == 0, capsys.readouterr().err


SPECS = """argument_specs:
  main:
    options:
      web_tls_enabled: {type: bool, default: true, description: TLS}
"""
MAIN = """- name: TLS
  ansible.builtin.import_tasks: tls.yml
  when: web_tls_enabled
  tags: [web_tls]
"""


def shaped(tmp_path, main=MAIN, specs=SPECS, defaults="web_tls_enabled: true\n", extra=None):
    files = {"web/tasks/main.yml": main, "web/meta/argument_specs.yml": specs, "web/defaults/main.yml": defaults,
             "web/tasks/tls.yml": "- name: Cert\n  ansible.builtin.debug: {msg: x}\n"}
    root = tree(tmp_path, GOOD_PLAY.replace("[nginx]", "[web]").replace("nginx", "web"), dict(files, **(extra or {})))
    (root / "molecule" / "web").mkdir(parents=True)
    (root / "molecule" / "web" / "molecule.yml").write_text("---\n")
    return root


def test_a_role_whose_switches_tags_and_specs_agree_passes(tmp_path):
    assert lint.check(shaped(tmp_path)) == []


def test_a_switch_missing_from_the_specs_is_named(tmp_path):
    problems = lint.check(shaped(tmp_path, specs="argument_specs:\n  main:\n    options: {}\n"))
    assert any("switch web_tls_enabled needs a bool option" in p for p in problems)


def test_a_switch_that_guards_no_task_of_its_tag_is_named(tmp_path):
    problems = lint.check(shaped(tmp_path, main=MAIN.replace("tags: [web_tls]", "tags: [web]")))
    assert any("switch web_tls_enabled guards no task tagged web_tls" in p for p in problems)
    assert any("`TLS` is switched by web_tls_enabled but not tagged web_tls" in p for p in problems)


def test_a_feature_tag_without_a_switch_is_named(tmp_path):
    main = MAIN + "- name: Logs\n  ansible.builtin.debug: {msg: x}\n  tags: [web_logs]\n"
    problems = lint.check(shaped(tmp_path, main=main))
    assert problems == ["roles/web/tasks/main.yml: tag web_logs of `Logs` has no switch web_logs_enabled"]


def test_a_task_run_when_the_switch_is_off_is_not_switched_by_it(tmp_path):
    main = MAIN + "- name: Fallback\n  ansible.builtin.debug: {msg: x}\n  when: not web_tls_enabled\n"
    assert lint.check(shaped(tmp_path, main=main)) == []


def test_a_long_main_yml_and_a_role_without_scenario_or_reason_are_named(tmp_path):
    main = MAIN + "".join(f"# line {n}\n" for n in range(lint.MAIN_LINES))
    root = shaped(tmp_path, main=main)
    (root / "molecule" / "web" / "molecule.yml").unlink()
    problems = lint.check(root)
    assert any("main.yml: 84 lines, over 80" in p for p in problems)
    assert any("roles/web: no molecule scenario (molecule/web/) and no reason in docs/roles.yml" in p for p in problems)
