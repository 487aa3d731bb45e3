#!/usr/bin/env python3
"""Tie role tasks, their tags and their waiver gates to the control catalogue.

  lint_controls.py            check roles/*/tasks/*.yml against controls/catalogue.yml: exit 1
                              with one line per problem, exit 0 with a one-line summary
  lint_controls.py --list     also print each task's verdict: claimed (by which ids),
                              operational, unclaimed_pending or read-only
  lint_controls.py --root DIR check another tree (DIR/roles, DIR/controls/catalogue.yml)

The rules (`make lint` runs this right after `controls_doc.py --check`):

1. Every task that can change a host is claimed by a control: it carries a control id of the
   catalogue (AREA-NN) as a tag, its own or inherited. A task is read-only, and needs no
   claim, when its module only reads or reports (READ_ONLY below; `uri` without a writing
   method or a `dest`), when it says `changed_when: false`, or when it is a compare probe
   (`check_mode: true` with a `register`). A changing task that claims no control must be
   listed in the catalogue, under `operational:` (work that enforces no security control:
   deploys, restarts, the app's packages...) or `unclaimed_pending:` (security work whose
   control does not exist yet; counted in a WARNING, not a failure):
       - role: app
         tasks: [switch.yml, "Service account"]   # task files of the role, or task names
         reason: "..."
   A listing that names no such task (it is claimed, read-only, or gone) is an error, so the
   lists stay true. One sshd_config serves several controls, so its tasks carry the feature
   tag only and a read-only check names each control per loop item (`control: SSH-01`, see
   DEVELOPERS.md): a task carrying a control's enforcing tag (the catalogue's `tags`) in a
   role whose vars, defaults or tasks name that control in a `control:` item is claimed by it
   "through item checks".
2. Tags agree with the catalogue. Every AREA-NN tag on a task, block or import, and every
   `control:` item, is a catalogue id. Each tag a control lists in `tags` is carried by at
   least one task (or block, or import) that also carries the control's id, or by a task of
   a role that checks the control item by item. A control none of whose tags is on any task
   is not enforced by role tasks at all and is skipped (controls_doc.py --check fails on a
   tag that is neither on a task nor a role's name). A known disagreement is listed under
   `tags_pending:` ({control, tag, reason}), counted in a WARNING; an entry that agrees now
   must go.
3. Waiver gates agree. In a role whose tasks/main.yml sets `__<role>_waived`, every import,
   include or block in tasks/main.yml that carries control ids in its own tags (and every
   changing task there that does) must have a `when` (its own or an enclosing block's)
   holding `'X' not in __<role>_waived` for at least one X of the ids it carries, and every
   id its gate names must be one of them. An import that serves a second control
   (`tags: [ssh_host_keys, SSH-04, SSH-10]`) is gated on its primary id only: waiving the
   second control must not stop the tasks the primary still needs.

How the tasks are read (Ansible's semantics): each role's tasks/main.yml is walked, and
every task file that no main.yml reaches is walked on its own (an entry point such as
`tasks_from: member`). `import_tasks`/`import_role` and `block` pass their tags and `when`
to their children. `include_tasks`/`include_role` pass their `when` (a false one loads
nothing) but not their own tags (only `apply: {tags}`); tags and `when` from above the
include still reach its children. Handlers are not linted. A task reached in several
places (ssh's canary.yml) is claimed only when every place claims it.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ID = re.compile(r"^[A-Z]{2,8}-\d{2,3}$")
LISTS = ("operational", "unclaimed_pending")
SECTIONS = ("block", "rescue", "always")

# Task keywords (everything else on a task is its module and that module's arguments).
KEYWORDS = {
    "name", "tags", "when", "register", "loop", "loop_control", "vars", "become", "become_user",
    "become_method", "become_flags", "become_exe", "delegate_to", "delegate_facts", "run_once",
    "changed_when", "failed_when", "check_mode", "diff", "no_log", "notify", "ignore_errors",
    "ignore_unreachable", "until", "retries", "delay", "environment", "async", "poll", "args",
    "any_errors_fatal", "throttle", "timeout", "collections", "module_defaults", "connection",
    "debugger", "remote_user", "port", "listen", "block", "rescue", "always",
}
IMPORT_TASKS, INCLUDE_TASKS = "import_tasks", "include_tasks"
IMPORT_ROLE, INCLUDE_ROLE = "import_role", "include_role"
# Modules that only read, report or steer the play (short names of ansible.builtin; full names
# for collections).
READ_ONLY = {
    "debug", "assert", "fail", "set_fact", "set_stats", "stat", "getent", "slurp", "find",
    "package_facts", "service_facts", "setup", "gather_facts", "meta", "include_vars", "pause",
    "wait_for", "wait_for_connection", "ping", "uri", "validate_argument_spec", "add_host",
    "group_by", "async_status", "pmops_live_state",
    "community.postgresql.postgresql_info", "community.postgresql.postgresql_ping",
    "community.crypto.x509_certificate_info", "community.crypto.openssl_privatekey_info",
}
READING_METHODS = {"GET", "HEAD", "OPTIONS"}
# This project's modules (library/) whose documented state only reads: {module: {state}}.
READ_ONLY_STATES = {"pmops_app_release": {"list"}}


@dataclass
class Node:
    """One task, block or import as reached from an entry point."""
    role: str
    file: str             # under roles/<role>/tasks/
    key: tuple            # position in the file: (4,), or (6, 0, 2) for the 2nd task of a block
    name: str
    kind: str             # task | block | import | include
    module: str
    data: dict
    tags: frozenset       # own and inherited
    when: tuple           # own and inherited conditions
    main: bool = False    # defined in the role's tasks/main.yml

    @property
    def own_tags(self) -> list[str]:
        return as_list(self.data.get("tags"), split=True)

    @property
    def where(self) -> str:
        return f"roles/{self.role}/tasks/{self.file}: {self.name!r}"


@dataclass
class Result:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    listing: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ reading the role trees

def as_list(value, split: bool = False) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",")] if split else [value]
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return [value]


def module_key(task: dict) -> str:
    """The key of a task that names its module (the first that is not a task keyword)."""
    return next((k for k in task if k not in KEYWORDS and not k.startswith("with_")), "")


def short(name: str) -> str:
    for prefix in ("ansible.builtin.", "ansible.legacy."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def module_of(task: dict) -> str:
    """The module a task calls, short for ansible.builtin/legacy ("ansible.builtin.apt" -> "apt")."""
    key = module_key(task)
    if short(key) in ("action", "local_action"):
        value = task[key]
        return short(value.get("module", "") if isinstance(value, dict) else (str(value).split() or [""])[0])
    return short(key)


def module_args(task: dict) -> dict:
    """The module's arguments as a dict (free-form arguments give {})."""
    value = task.get(module_key(task))
    args = dict(task.get("args") or {})
    if isinstance(value, dict):
        args.update(value)
    return args


def load_tasks(path: Path) -> list:
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    return data if isinstance(data, list) else []


def include_target(task: dict, module: str) -> tuple[str | None, str | None, dict]:
    """(role, file, apply) an import/include names; role None means the including role."""
    value = task.get(module_key(task))
    args = module_args(task)
    if module in (IMPORT_TASKS, INCLUDE_TASKS):
        file = value if isinstance(value, str) else args.get("file")
        return None, file, args.get("apply") or {}
    tasks_from = str(args.get("tasks_from") or "main")
    if not tasks_from.endswith((".yml", ".yaml")):
        tasks_from += ".yml"
    return args.get("name"), tasks_from, args.get("apply") or {}


class Walker:
    """Walks roles/*/tasks from entry points, collecting every node with what it inherits."""

    def __init__(self, roles_dir: Path):
        self.roles_dir = roles_dir
        self.nodes: list[Node] = []
        self.problems: list[str] = []
        self.reached: set[tuple[str, str]] = set()

    def walk(self, role: str, file: str, tags: frozenset = frozenset(), when: tuple = (),
             stack: tuple = ()) -> None:
        if (role, file) in stack:
            return
        self.reached.add((role, file))
        tasks = load_tasks(self.roles_dir / role / "tasks" / file)
        self._walk_list(role, file, tasks, (), tags, when, stack + ((role, file),))

    def _walk_list(self, role, file, tasks, prefix, tags, when, stack) -> None:
        for index, task in enumerate(tasks, 1):
            if isinstance(task, dict):
                self._walk_one(role, file, task, prefix + (index,), tags, when, stack)

    def _walk_one(self, role, file, task, key, tags, when, stack) -> None:
        own_tags = frozenset(as_list(task.get("tags"), split=True))
        own_when = tuple(str(w) for w in as_list(task.get("when")))
        module = "" if "block" in task else module_of(task)
        kind = ("block" if "block" in task else "import" if module in (IMPORT_TASKS, IMPORT_ROLE)
                else "include" if module in (INCLUDE_TASKS, INCLUDE_ROLE) else "task")
        name = str(task.get("name") or f"(unnamed {kind} #{'/'.join(map(str, key))})")
        node = Node(role, file, key, name, kind, module, task, tags | own_tags, when + own_when,
                    main=file == "main.yml" and stack[0] == (role, file))
        self.nodes.append(node)
        if kind == "block":
            for section in SECTIONS:
                self._walk_list(role, file, task.get(section) or [], key + (SECTIONS.index(section),), node.tags,
                                node.when, stack)
        elif kind in ("import", "include"):
            target_role, target, apply = include_target(task, module)
            target_role = target_role or role
            if not target or "{{" in str(target) or "{{" in str(target_role):
                self.problems.append(f"{node.where}: cannot follow the templated {module} (name the file)")
                return
            if not (self.roles_dir / target_role).is_dir():
                return  # a role from a collection: not this project's tasks
            if not (self.roles_dir / target_role / "tasks" / target).exists():
                self.problems.append(f"{node.where}: {module} names roles/{target_role}/tasks/{target}, "
                                     "which does not exist")
                return
            child_tags = node.tags if kind == "import" else tags | frozenset(as_list(apply.get("tags"), split=True))
            self.walk(target_role, target, child_tags, node.when, stack)


def walk_roles(roles_dir: Path) -> Walker:
    """Every role's main.yml, then each task file no main.yml reaches, as its own entry point."""
    walker = Walker(roles_dir)
    roles = sorted(p.name for p in roles_dir.iterdir() if (p / "tasks").is_dir()) if roles_dir.is_dir() else []
    for role in roles:
        if (roles_dir / role / "tasks" / "main.yml").exists():
            walker.walk(role, "main.yml")
    for role in roles:
        for path in sorted((roles_dir / role / "tasks").glob("*.yml")):
            if (role, path.name) not in walker.reached:
                walker.walk(role, path.name)
    return walker


def item_controls(roles_dir: Path, role: str) -> dict[str, str]:
    """{control id: file} of the `control:` items in a role's vars, defaults and tasks."""
    found: dict[str, str] = {}

    def visit(node, where):
        if isinstance(node, dict):
            if isinstance(node.get("control"), str) and ID.match(node["control"]):
                found.setdefault(node["control"], where)
            for value in node.values():
                visit(value, where)
        elif isinstance(node, list):
            for value in node:
                visit(value, where)

    for sub in ("vars", "defaults", "tasks"):
        for path in sorted((roles_dir / role / sub).glob("*.yml")):
            visit(yaml.safe_load(path.read_text()), f"roles/{role}/{sub}/{path.name}")
    return found


# ------------------------------------------------------------------ the rules

def read_only(node: Node) -> bool:
    task = node.data
    if task.get("changed_when") is False:
        return True
    if task.get("check_mode") is True and "register" in task:
        return True  # a compare probe: reports what would change, changes nothing
    args = module_args(task)
    if node.module in READ_ONLY_STATES:
        return args.get("state") in READ_ONLY_STATES[node.module]
    if node.module not in READ_ONLY:
        return False
    if node.module == "uri":
        return str(args.get("method", "GET")).upper() in READING_METHODS and "dest" not in args
    return True


@dataclass
class Catalogue:
    ids: set[str]
    enforcing: dict[str, set[str]]  # tag -> ids of the controls that list it in `tags`
    controls: list[dict]
    lists: dict[str, list]          # operational, unclaimed_pending
    tags_pending: list


def read_catalogue(path: Path) -> Catalogue:
    data = yaml.safe_load(path.read_text()) or {}
    controls = [c for c in data.get("controls") or [] if isinstance(c, dict)]
    enforcing: dict[str, set[str]] = {}
    for control in controls:
        for tag in control.get("tags") or []:
            enforcing.setdefault(tag, set()).add(control.get("id"))
    return Catalogue({c.get("id") for c in controls}, enforcing, controls,
                     {name: data.get(name) or [] for name in LISTS}, data.get("tags_pending") or [])


def claims(node: Node, cat: Catalogue, items: dict[str, dict]) -> tuple[set[str], set[str]]:
    """(ids the node carries, ids it is claimed by through item checks)."""
    direct = node.tags & cat.ids
    through = {cid for tag in node.tags for cid in cat.enforcing.get(tag, ()) if cid in items.get(node.role, {})}
    return set(direct), through - direct


def check_ids(walker: Walker, cat: Catalogue, items: dict[str, dict]) -> list[str]:
    problems = set()
    for node in walker.nodes:
        for tag in node.own_tags:
            if ID.match(tag) and tag not in cat.ids:
                problems.add(f"{node.where}: tag {tag} is not a control id in controls/catalogue.yml")
    for role, found in items.items():
        for cid, where in found.items():
            if cid not in cat.ids:
                problems.add(f"{where}: control: {cid} is not a control id in controls/catalogue.yml")
    return sorted(problems)


def check_tags(walker: Walker, cat: Catalogue, items: dict[str, dict]) -> tuple[list[str], list[dict]]:
    """Problems, and the tags_pending entries that are still true."""
    with_tag: dict[str, set[str]] = {}
    for node in walker.nodes:
        direct, through = claims(node, cat, items)
        for tag in node.tags:
            with_tag.setdefault(tag, set()).update(direct | through)
    pending = {(e.get("control"), e.get("tag")): e for e in cat.tags_pending if isinstance(e, dict)}
    pairs = {(c.get("id"), t) for c in cat.controls for t in c.get("tags") or []}
    problems, still = [], []
    for entry in cat.tags_pending:
        pair = (entry.get("control"), entry.get("tag")) if isinstance(entry, dict) else None
        if pair not in pairs or not entry.get("reason"):
            problems.append(f"controls/catalogue.yml: tags_pending entry {entry!r} needs a control, one of its tags "
                            "and a reason")
    for control in cat.controls:
        cid = control.get("id")
        if not any(tag in with_tag for tag in control.get("tags") or []):
            continue  # not enforced by role tasks at all (no task carries any of its tags)
        for tag in control.get("tags") or []:
            agrees = cid in with_tag.get(tag, set())
            entry = pending.get((cid, tag))
            if agrees and entry:
                problems.append(f"controls/catalogue.yml: tags_pending lists {cid} / {tag}, but a task carries both "
                                "now; remove the entry")
            elif not agrees and entry:
                still.append(entry)
            elif not agrees:
                problems.append(f"{cid}: its tag {tag!r} is on no task that also carries {cid} (tag the task with "
                                f"{cid}, or fix the catalogue's tags)")
    return problems, still


def waived_var(walker: Walker, role: str) -> str | None:
    name = f"__{role}_waived"
    for node in walker.nodes:
        if node.role == role and node.main and node.module == "set_fact":
            if name in module_args(node.data):
                return name
    return None


def check_gates(walker: Walker) -> list[str]:
    problems = []
    for role in sorted({n.role for n in walker.nodes}):
        var = waived_var(walker, role)
        if not var:
            continue
        gate = re.compile(r"""['"]([A-Z]{2,8}-\d{2,3})['"]\s+not\s+in\s+""" + re.escape(var) + r"\b")
        seen = set()
        for node in walker.nodes:
            if node.role != role or not node.main or node.key in seen:
                continue
            seen.add(node.key)
            if not any(ID.match(t) for t in node.own_tags):
                continue
            if node.kind == "task" and read_only(node):
                continue
            ids = sorted(t for t in node.tags if ID.match(t))
            gated = sorted(set(gate.findall(" and ".join(node.when))))
            what = node.module if node.kind in ("import", "include") else node.kind
            stray = [g for g in gated if g not in ids]
            if stray:
                problems.append(f"{node.where}: {what} is gated on {', '.join(stray)} but tagged "
                                f"{', '.join(ids)}; gate it on its own id")
            elif not gated:
                problems.append(f"{node.where}: {what} carries {', '.join(ids)} but its when has no "
                                f"'{ids[0]}' not in {var}")
    return problems


def listed(cat: Catalogue, roles_dir: Path) -> tuple[list[str], dict[str, list[tuple[str, str, str]]]]:
    """Problems in the operational / unclaimed_pending sections, and {section: [(role, entry, reason)]}."""
    problems, entries = [], {name: [] for name in LISTS}
    for name in LISTS:
        if not isinstance(cat.lists[name], list):
            problems.append(f"controls/catalogue.yml: {name} must be a list of {{role, tasks, reason}}")
            continue
        for i, entry in enumerate(cat.lists[name], 1):
            where = f"controls/catalogue.yml: {name} #{i}"
            role = entry.get("role") if isinstance(entry, dict) else None
            if not role or not (roles_dir / str(role) / "tasks").is_dir():
                problems.append(f"{where}: role {role!r} is not a role with tasks (want {{role, tasks, reason}})")
                continue
            tasks = as_list(entry.get("tasks"))
            if not tasks or not all(isinstance(t, str) for t in tasks):
                problems.append(f"{where} ({entry['role']}): tasks must be a list of task files or task names")
            if not str(entry.get("reason") or "").strip():
                problems.append(f"{where} ({entry['role']}): a reason is required")
            entries[name] += [(entry["role"], t, entry.get("reason")) for t in tasks if isinstance(t, str)]
    return problems, entries


def matches(node: Node, role: str, entry: str) -> bool:
    return node.role == role and (node.file == entry if entry.endswith((".yml", ".yaml")) else node.name == entry)


def claimed_by(nodes: list[Node], cat: Catalogue, items: dict[str, dict]) -> tuple[set, set] | None:
    """(ids carried, ids through item checks) when every place a task is reached from claims it."""
    places = [claims(n, cat, items) for n in nodes]
    if not all(direct or through for direct, through in places):
        return None
    direct = set().union(*(d for d, _ in places))
    return direct, set().union(*(t for _, t in places)) - direct


def describe(direct: set, through: set) -> str:
    how = [", ".join(sorted(direct))] if direct else []
    return "; ".join(how + ([f"{', '.join(sorted(through))} (through item checks)"] if through else []))


def check_claims(walker: Walker, cat: Catalogue, items: dict[str, dict], roles_dir: Path, result: Result) -> None:
    problems, entries = listed(cat, roles_dir)
    by_task: dict[tuple, list[Node]] = {}
    for node in walker.nodes:
        if node.kind == "task":
            by_task.setdefault((node.role, node.file, node.key), []).append(node)
    counts = dict.fromkeys(("read_only", "claimed", "through_items", *LISTS), 0)
    used = dict.fromkeys(((name, role, entry) for name in LISTS for role, entry, _ in entries[name]), False)
    for nodes in (by_task[key] for key in sorted(by_task)):
        node = nodes[0]
        if read_only(node):
            counts["read_only"] += 1
            result.listing.append(f"read-only    {node.where}")
            continue
        claim = claimed_by(nodes, cat, items)
        if claim:
            counts["claimed"] += 1
            counts["through_items"] += not claim[0]
            result.listing.append(f"claimed      {node.where} by {describe(*claim)}")
            continue
        hits = [(name, r, e) for name in LISTS for r, e, _ in entries[name] if matches(node, r, e)]
        used.update(dict.fromkeys(hits, True))
        sections = sorted({name for name, _, _ in hits})
        if len(sections) > 1:
            problems.append(f"{node.where} is listed under both operational and unclaimed_pending")
        elif sections:
            counts[sections[0]] += 1
            result.listing.append(f"{sections[0]:<12} {node.where}")
        else:
            problems.append(f"{node.where} changes a host but claims no control: tag it with the control id it "
                            "enforces, or list it under operational or unclaimed_pending in controls/catalogue.yml")
    for (name, role, entry), hit in used.items():
        if not hit:
            problems.append(f"controls/catalogue.yml: {name} lists {entry!r} of role {role}, which names no task of "
                            "that role that changes a host and claims no control; remove it")
    result.problems += problems
    result.counts.update(counts)


def lint(root: Path = ROOT) -> Result:
    roles_dir = root / "roles"
    cat = read_catalogue(root / "controls" / "catalogue.yml")
    walker = walk_roles(roles_dir)
    items = {role: item_controls(roles_dir, role) for role in sorted({n.role for n in walker.nodes})}
    result = Result(problems=list(dict.fromkeys(walker.problems)))
    check_claims(walker, cat, items, roles_dir, result)
    result.problems += check_ids(walker, cat, items)
    tag_problems, still = check_tags(walker, cat, items)
    result.problems += tag_problems
    result.problems += check_gates(walker)
    result.counts["tags_pending"] = len(still)
    if result.counts["unclaimed_pending"]:
        result.warnings.append(f"WARNING: {result.counts['unclaimed_pending']} tasks change hosts for security but "
                               "no control claims them yet (unclaimed_pending in controls/catalogue.yml)")
    if still:
        result.warnings.append(f"WARNING: {len(still)} catalogue tags are on no task with their control's id "
                               f"(tags_pending in controls/catalogue.yml: "
                               f"{', '.join(e['control'] + '/' + e['tag'] for e in still)})")
    return result


def summary(result: Result) -> str:
    c = result.counts
    return (f"lint_controls: ok, {c['claimed'] + c['operational'] + c['unclaimed_pending']} tasks change hosts: "
            f"{c['claimed']} claimed by a control ({c['through_items']} through item checks), "
            f"{c['operational']} operational, {c['unclaimed_pending']} pending; {c['read_only']} read-only")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="the project tree (default: this repository)")
    parser.add_argument("--list", action="store_true", help="print every task's verdict (claimed by, operational, pending, read-only)")
    args = parser.parse_args(argv)
    result = lint(args.root)
    if args.list:
        print("\n".join(result.listing))
    for problem in result.problems:
        print(f"lint_controls: {problem}", file=sys.stderr)
    if result.problems:
        return 1
    for warning in result.warnings:
        print(f"lint_controls: {warning}", file=sys.stderr)
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
