"""make lint's structure rules: playbooks call roles only; no role reads another's private variables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
    return tmp_path


GOOD_PLAY = """
- name: Validate
  ansible.builtin.import_playbook: validate.yml
- name: Web
  hosts: web
  serial: 1
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
