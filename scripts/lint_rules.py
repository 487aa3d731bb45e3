#!/usr/bin/env python3
"""What `make lint` holds the Prometheus alert rules to.

1. Every alerting rule has `severity` page, ticket or none, and a `runbook_url` that is
   docs/runbooks/<alert>.md; that page exists and has the three sections an on-call
   engineer reads (What it means, Check first, Put it right), and its "Put it right" names a
   `pmops` command or a playbook. A page with no alert is an error too.
2. Every alerting rule is tested by promtool (tests/rules/*.test.yml): each (alert, severity)
   in a case that expects it to fire, and each alert in a case that expects it quiet
   (`exp_alerts: []`). Every rule file is loaded by a test file.

Whether the tests pass is promtool's job (tests/unit/test_rules.py runs it); this checks that
they exist.

  lint_rules.py           check the repository, exit 1 naming each problem
  lint_rules.py --root D  check another tree (the unit tests use it)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = "roles/prometheus/files/rules"
TESTS_DIR = "tests/rules"
RUNBOOKS_DIR = "docs/runbooks"
SEVERITIES = {"page", "ticket", "none"}
SECTIONS = ("What it means", "Check first", "Put it right")
REMEDY = re.compile(r"`(pmops [a-z]|ansible-playbook |make lab-)")


def _load(path: Path):
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SystemExit(f"lint_rules: {path}: not valid YAML: {exc}") from None


def alerting_rules(root: Path) -> list[tuple[str, dict]]:
    """(rule file, rule) for every alerting rule under RULES_DIR."""
    found = []
    for path in sorted((root / RULES_DIR).glob("*.yml")):
        for group in _load(path).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    found.append((path.name, rule))
    return found


def sections(text: str) -> dict[str, str]:
    """The level-2 sections of a Markdown page: title -> body."""
    parts = re.split(r"^## +(.+?)\s*$", text, flags=re.M)
    return {title: body for title, body in zip(parts[1::2], parts[2::2])}


def runbook_problems(root: Path, rules: list[tuple[str, dict]]) -> list[str]:
    problems = []
    names = set()
    for file, rule in rules:
        alert = rule["alert"]
        names.add(alert)
        severity = (rule.get("labels") or {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{RULES_DIR}/{file}: alert {alert}: label severity is {severity!r}; "
                            f"it must be one of {', '.join(sorted(SEVERITIES))}")
        want = f"{RUNBOOKS_DIR}/{alert}.md"
        url = (rule.get("annotations") or {}).get("runbook_url")
        if url != want:
            problems.append(f"{RULES_DIR}/{file}: alert {alert}: annotation runbook_url is {url!r}; "
                            f"it must be {want!r}")
    for alert in sorted(names):
        page = root / RUNBOOKS_DIR / f"{alert}.md"
        if not page.exists():
            problems.append(f"alert {alert} has no runbook: write {RUNBOOKS_DIR}/{alert}.md "
                            f"(sections: {', '.join(SECTIONS)})")
            continue
        body = sections(page.read_text())
        missing = [s for s in SECTIONS if s not in body]
        if missing:
            problems.append(f"{RUNBOOKS_DIR}/{alert}.md: missing section(s) {', '.join('## ' + s for s in missing)}")
        elif not REMEDY.search(body["Put it right"]):
            problems.append(f"{RUNBOOKS_DIR}/{alert}.md: 'Put it right' names no `pmops ...` command or playbook")
    for page in sorted((root / RUNBOOKS_DIR).glob("*.md")):
        if page.stem != "README" and page.stem not in names:
            problems.append(f"{RUNBOOKS_DIR}/{page.name}: no alert is called {page.stem} (renamed or removed?)")
    return problems


def test_problems(root: Path, rules: list[tuple[str, dict]]) -> list[str]:
    fires: set[tuple[str, str]] = set()
    quiet: set[str] = set()
    loaded: set[str] = set()
    for path in sorted((root / TESTS_DIR).glob("*.test.yml")):
        data = _load(path)
        for ref in data.get("rule_files") or []:
            loaded.add((path.parent / ref).resolve().name)
        for case in data.get("tests") or []:
            for check in case.get("alert_rule_test") or []:
                expected = check.get("exp_alerts") or []
                if not expected:
                    quiet.add(check.get("alertname"))
                for alert in expected:
                    severity = (alert.get("exp_labels") or {}).get("severity")
                    fires.add((check.get("alertname"), severity))
    problems = []
    for file in sorted({file for file, _ in rules}):
        if file not in loaded:
            problems.append(f"{RULES_DIR}/{file}: no file in {TESTS_DIR}/ loads it (rule_files)")
    for file, rule in rules:
        alert, severity = rule["alert"], (rule.get("labels") or {}).get("severity")
        if (alert, severity) not in fires:
            problems.append(f"{RULES_DIR}/{file}: alert {alert} (severity {severity}) has no promtool test "
                            f"that makes it fire: add a case to {TESTS_DIR}/")
    for alert in sorted({rule["alert"] for _, rule in rules}):
        if alert != "Watchdog" and alert not in quiet:  # the Watchdog is never quiet, by design
            problems.append(f"alert {alert} has no promtool test that expects it quiet "
                            f"(exp_alerts: []): add one to {TESTS_DIR}/")
    return problems


def problems(root: Path = ROOT) -> list[str]:
    rules = alerting_rules(root)
    if not rules:
        return [f"{RULES_DIR}: no alerting rules found"]
    return runbook_problems(root, rules) + test_problems(root, rules)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    found = problems(args.root)
    for problem in found:
        print(f"lint_rules: {problem}", file=sys.stderr)
    if not found:
        print(f"lint_rules: ok ({len(alerting_rules(args.root))} alerting rules, each with a runbook and tests)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
