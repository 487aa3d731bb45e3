#!/usr/bin/env python3
"""The control catalogue (controls/catalogue.yml): check it and generate its tables.

  controls_doc.py           write docs/controls.md and the README's control table
  controls_doc.py --check   fail if the catalogue is inconsistent (unknown family, duplicate
                            id, a tag no role task carries, a test that does not exist) or
                            a generated table is stale
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "controls" / "catalogue.yml"
DOC = ROOT / "docs" / "controls.md"
README = ROOT / "README.md"
START, END = "<!-- controls:start -->", "<!-- controls:end -->"
ID = re.compile(r"^[A-Z]{2,8}-\d{2,3}$")
TEST = re.compile(r"^(?P<file>tests/integration/[\w/]+\.py)::(?P<func>test_\w+)(\[(?P<param>.+)\])?$")
REQUIRED = ("id", "title", "family", "mlps", "cis", "tags", "test")


def load(path: Path = CATALOGUE) -> dict:
    return yaml.safe_load(path.read_text())


def role_tags(roles_dir: Path = ROOT / "roles") -> set[str]:
    """Every tag that a role's tasks carry, plus each role's own name."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            tags = node.get("tags")
            if isinstance(tags, str):
                found.add(tags)
            elif isinstance(tags, list):
                found.update(t for t in tags if isinstance(t, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in roles_dir.glob("*/tasks/*.yml"):
        walk(yaml.safe_load(path.read_text()))
    found.update(p.name for p in roles_dir.iterdir() if p.is_dir())
    return found


def test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def errors(catalogue: dict, root: Path = ROOT) -> list[str]:
    problems = []
    families = catalogue.get("families") or {}
    tags = role_tags(root / "roles")
    seen = set()
    for index, control in enumerate(catalogue.get("controls") or []):
        cid = control.get("id", f"#{index}")
        for key in REQUIRED:
            if key not in control:
                problems.append(f"{cid}: '{key}' is missing")
        if not ID.match(str(cid)):
            problems.append(f"{cid}: id must look like AREA-NN")
        if cid in seen:
            problems.append(f"{cid}: duplicate id")
        seen.add(cid)
        family = control.get("family")
        if family not in families:
            problems.append(f"{cid}: family {family!r} is not one of {sorted(families)}")
        elif not str(control.get("mlps", "")).startswith(families[family]["mlps"]):
            problems.append(f"{cid}: mlps {control.get('mlps')!r} is not under {family} ({families[family]['mlps']})")
        for tag in control.get("tags") or []:
            if tag not in tags:
                problems.append(f"{cid}: no role task carries the tag {tag!r}")
        if not control.get("tags"):
            problems.append(f"{cid}: names no tag that enforces it")
        match = TEST.match(str(control.get("test", "")))
        if not match:
            problems.append(f"{cid}: test {control.get('test')!r} is not tests/integration/<file>.py::test_<name>[<param>]")
            continue
        test_file = root / match["file"]
        if not test_file.exists():
            problems.append(f"{cid}: test file {match['file']} does not exist")
            continue
        if match["func"] not in test_functions(test_file):
            problems.append(f"{cid}: {match['file']} has no {match['func']}")
        if match["param"]:
            text = test_file.read_text()
            for piece in match["param"].split("-"):
                if f'"{piece}"' not in text:
                    problems.append(f"{cid}: parameter {piece!r} of {match['func']} is not in {match['file']}")
    return problems


def live_checked() -> set[str]:
    """The controls pmops comply decides from the state in force alone (pmops/checks.py)."""
    sys.path.insert(0, str(ROOT))
    from pmops.checks import controls_checked
    return controls_checked()


def table(catalogue: dict) -> str:
    families = catalogue["families"]
    live = live_checked()
    lines = ["| id | control | GB/T 22239-2019 | CIS Debian 12 | enforced by tags | checked in force by pmops comply | "
             "testinfra test |",
             "|---|---|---|---|---|---|---|"]
    for c in catalogue["controls"]:
        fam = families[c["family"]]["title"]
        test = c["test"].split("::", 1)
        lines.append(f"| {c['id']} | {c['title']} | {c['mlps']} {fam} | {', '.join(c['cis']) or '-'} | "
                     f"{', '.join('`' + t + '`' for t in c['tags'])} | "
                     f"{'yes' if c['id'] in live else 'no: the testinfra test decides'} | "
                     f"`{test[0].rsplit('/', 1)[-1]}::{test[1]}` |")
    return "\n".join(lines)


def render_doc(catalogue: dict) -> str:
    return "\n".join([
        "<!-- Generated by scripts/controls_doc.py from controls/catalogue.yml; do not edit. -->",
        "# Control catalogue", "",
        f"{len(catalogue['controls'])} controls. Each is enforced by the role tasks with its tags, checked by",
        "`pmops comply` in the state in force (pmops/checks.py) where the table says so and otherwise by its",
        "testinfra test (which `make lab-verify` runs for every control), mapped to GB/T 22239-2019 (MLPS 2.0)",
        "level 3 and to the CIS Debian Linux 12 Benchmark v1.0.1, and can be waived per host or group in the",
        "exceptions register.", "",
        table(catalogue), ""])


def render_readme(readme: str, catalogue: dict) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"controls_doc: README.md lacks the markers {START} ... {END}")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(catalogue)}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    catalogue = load()
    problems = errors(catalogue)
    doc, readme = render_doc(catalogue), render_readme(README.read_text(), catalogue)
    if args.check:
        if not DOC.exists() or DOC.read_text() != doc:
            problems.append("docs/controls.md is stale; run python scripts/controls_doc.py")
        if README.read_text() != readme:
            problems.append("README.md's control table is stale; run python scripts/controls_doc.py")
    elif not problems:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(doc)
        README.write_text(readme)
    for problem in problems:
        print(f"controls_doc: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
