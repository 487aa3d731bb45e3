#!/usr/bin/env python3
"""The shape `make lint` holds the playbooks and roles to.

1. A playbook holds no task logic: each play selects hosts, sets how it runs (serial, order,
   become, facts...) and calls roles, through `roles:` or tasks that are only
   `include_role`/`import_role` (with name, vars, tags, when, apply); `import_playbook`
   entries are allowed. The work lives in role entry points, with argument specs. A play
   that rolls over its hosts (`serial`) is marked `pmops_orchestrating: true` (vars): it needs
   the whole inventory, so no AWX job template may slice it (scripts/lint_awx.py, docs/awx.md).
2. No role refers to another role's private variables (`__<role>_...`): roles publish what
   others need as documented inputs, outputs (`<role>_wanted`, `login_canary_result`...) or
   entry points. Playbooks refer to no role's private variables either.
3. Every role has the same shape: each feature switch `<role>_<feature>_enabled` (defaults) is
   a bool in the main entry's argument spec with the same default and guards tasks tagged
   `<role>_<feature>` (in main.yml or a file it imports); every `<role>_<x>` tag of a task
   has its switch; tasks/main.yml stays under MAIN_LINES lines; a role has a molecule scenario
   (molecule/<role>/) or docs/roles.yml says why the lab covers it, and has switches or
   docs/roles.yml says why it has none.

  lint_structure.py           check the repository, exit 1 naming each problem
  lint_structure.py --root D  check another tree (the unit tests use it)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PLAY_KEYS = {
    "name", "hosts", "serial", "order", "max_fail_percentage", "any_errors_fatal", "become", "become_user",
    "become_method", "gather_facts", "gather_subset", "gather_timeout", "tags", "vars", "roles", "tasks",
    "strategy", "connection", "environment", "module_defaults", "throttle", "run_once", "collections",
    "check_mode", "diff", "ignore_unreachable", "force_handlers", "remote_user", "vars_files",
}
TASK_SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers")
ROLE_CALLS = {"include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role"}
ROLE_CALL_KEYS = {"name", "vars", "tags", "when", "loop", "loop_control", "become", "delegate_to", "run_once"}
PRIVATE = re.compile(r"\b__([a-z][a-z0-9_]*)")
MAIN_LINES = 80
SHAPE_FILE = "docs/roles.yml"
TEXT_SUFFIXES = {".yml", ".yaml", ".j2", ".md", ".py", ".sh", ".cfg", ".conf"}


def _load(path: Path):
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SystemExit(f"lint_structure: {path}: not valid YAML: {exc}") from None


def owner(private: str, roles: list[str]) -> str | None:
    """The role whose private variable `__<private>` is (longest role-name prefix), if any."""
    found = [r for r in roles if private == r or private.startswith(r + "_")]
    return max(found, key=len) if found else None


def playbook_problems(path: Path, roles: list[str], root: Path) -> list[str]:
    rel = path.relative_to(root)
    problems = []
    for n, play in enumerate(_load(path) or [], 1):
        where = f"{rel}: play {n} ({play.get('name', 'unnamed') if isinstance(play, dict) else '?'})"
        if not isinstance(play, dict):
            problems.append(f"{where}: not a play")
            continue
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            continue
        for key in sorted(set(play) - PLAY_KEYS - set(TASK_SECTIONS)):
            problems.append(f"{where}: `{key}` is not host selection, run settings or role calls")
        if "serial" in play and not (play.get("vars") or {}).get("pmops_orchestrating"):
            problems.append(f"{where}: rolls over its hosts (`serial`), so it needs the whole inventory: mark it "
                            "`pmops_orchestrating: true` in its vars (not sliceable, docs/awx.md)")
        for section in TASK_SECTIONS:
            for task in play.get(section) or []:
                module = next((k for k in task if k in ROLE_CALLS), None)
                name = task.get("name", "unnamed")
                if section == "handlers" or module is None:
                    problems.append(f"{where}: {section} `{name}` is task logic; move it into a role entry point")
                    continue
                extra = set(task) - ROLE_CALL_KEYS - {module}
                if extra:
                    problems.append(f"{where}: `{name}` calls a role but also has {sorted(extra)}; "
                                    "move that into the role")
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        for private in PRIVATE.findall(line):
            role = owner(private, roles)
            if role:
                problems.append(f"{rel}:{line_no}: refers to the {role} role's private variable __{private}")
    return problems


def role_problems(role_dir: Path, roles: list[str], root: Path) -> list[str]:
    problems = []
    for path in sorted(p for p in role_dir.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES):
        if path.name == "README.md":
            continue  # generated from the specs
        for line_no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for private in PRIVATE.findall(line):
                role = owner(private, roles)
                if role and role != role_dir.name:
                    problems.append(f"{path.relative_to(root)}:{line_no}: refers to the {role} role's private "
                                    f"variable __{private}; use an input, an output or an entry point of {role}")
    return problems


def _tags(task: dict) -> list[str]:
    tags = task.get("tags") or []
    return [tags] if isinstance(tags, str) else list(tags)


def _reason_problems(role: str, rel: Path, shape: dict, key: str, has: bool, lacks: str, why: str) -> list[str]:
    """A role has the thing (a scenario, switches) or docs/roles.yml says why not; never both."""
    reason = str(shape.get(key) or "").strip()
    if has and reason:
        return [f"{SHAPE_FILE}: {role} has {key}; drop its `{key}:` reason for having none"]
    if not has and not reason:
        return [f"{rel}: {lacks} and no reason in {SHAPE_FILE} ({key}: {why})"]
    return []


def shape_problems(role_dir: Path, shape: dict, root: Path) -> list[str]:
    """Switches, tags, specs, the length of tasks/main.yml and how the role is tested."""
    role = role_dir.name
    rel = role_dir.relative_to(root)
    main = role_dir / "tasks" / "main.yml"
    # (file, task) of every top-level task: a feature may sit in a file main.yml imports.
    tasks = [(path.name, task) for path in sorted((role_dir / "tasks").glob("*.yml"))
             for task in (_load(path) or []) if isinstance(task, dict)]
    defaults = (_load(role_dir / "defaults" / "main.yml") or {}) if (role_dir / "defaults" / "main.yml").exists() else {}
    specs_file = role_dir / "meta" / "argument_specs.yml"
    specs = ((_load(specs_file) or {}).get("argument_specs") or {}) if specs_file.exists() else {}
    options = (specs.get("main") or {}).get("options") or {}
    switch = re.compile(rf"^{role}_([a-z0-9_]+)_enabled$")
    switches = {m.group(1): k for k in defaults if (m := switch.match(k))}
    problems = []
    for feature, name in sorted(switches.items()):
        spec = options.get(name)
        if not spec or spec.get("type") != "bool" or spec.get("default") != defaults[name]:
            problems.append(f"{rel}: switch {name} needs a bool option in meta/argument_specs.yml (entry point main) "
                            f"with the default of defaults/main.yml ({defaults[name]!r})")
        guarded = [(f, t) for f, t in tasks if re.search(rf"(?<!not )\b{name}\b", str(t.get("when", "")))]
        if not any(f"{role}_{feature}" in _tags(t) for _, t in guarded):
            problems.append(f"{rel}/tasks: switch {name} guards no task tagged {role}_{feature}")
        for file, task in guarded:
            if f"{role}_{feature}" not in _tags(task):
                problems.append(f"{rel}/tasks/{file}: `{task.get('name', 'unnamed')}` is switched by {name} "
                                f"but not tagged {role}_{feature}")
    feature_tag = re.compile(rf"^{role}_([a-z0-9_]+)$")
    for file, task in tasks:
        for tag in _tags(task):
            m = feature_tag.match(tag)
            # A tag named after an entry point (backup_now) marks that entry point, not a feature.
            if m and m.group(1) not in switches and m.group(1) not in specs:
                problems.append(f"{rel}/tasks/{file}: tag {tag} of `{task.get('name', 'unnamed')}` "
                                f"has no switch {tag}_enabled")
    lines = len(main.read_text().splitlines()) if main.exists() else 0
    if lines > MAIN_LINES:
        problems.append(f"{rel}/tasks/main.yml: {lines} lines, over {MAIN_LINES}: "
                        "move features into their own task files")
    problems += _reason_problems(role, rel, shape, "molecule", (root / "molecule" / role / "molecule.yml").exists(),
                                 f"no molecule scenario (molecule/{role}/)", "what in the lab covers it")
    problems += _reason_problems(role, rel, shape, "switches", bool(switches),
                                 f"no feature switch {role}_<feature>_enabled", "why the role is one indivisible step")
    return problems


def check(root: Path) -> list[str]:
    role_dirs = sorted(p for p in (root / "roles").iterdir() if p.is_dir())
    roles = [p.name for p in role_dirs]
    problems = []
    for path in sorted((root / "playbooks").glob("*.yml")):
        problems += playbook_problems(path, roles, root)
    shape_file = root / SHAPE_FILE
    shapes = (_load(shape_file) or {}) if shape_file.exists() else {}
    for name in sorted(set(shapes) - set(roles)):
        problems.append(f"{SHAPE_FILE}: {name} is not a role")
    for role_dir in role_dirs:
        problems += role_problems(role_dir, roles, root)
        problems += shape_problems(role_dir, shapes.get(role_dir.name) or {}, root)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    problems = check(args.root)
    for problem in problems:
        print(f"lint_structure: {problem}", file=sys.stderr)
    if not problems:
        playbooks = len(list((args.root / "playbooks").glob("*.yml")))
        print(f"lint_structure: ok, {playbooks} playbooks call roles only; no role reads another's private variables; "
              "every role's switches, tags and specs agree")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
