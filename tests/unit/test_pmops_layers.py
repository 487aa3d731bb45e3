"""pmops in layers (DEVELOPERS.md): each module imports only from its own layer or the ones
below, runner and controls never import each other, and what runs Ansible or reads the
catalogue lives in one module. Read from the source with ast, so a late import inside a
function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PMOPS = ROOT / "pmops"
# Lowest first. A module of pmops.lab is a command like the package itself.
LAYERS = {
    "base": {"pmops", "pmops.paths"},
    "libraries": {"pmops.checks", "pmops.topology", "pmops.plan", "pmops.runlog", "pmops.load", "pmops.pytest_results",
                  "pmops.monitoring", "pmops.totp"},
    "engines": {"pmops.runner", "pmops.controls", "pmops.report"},
    "commands": {"pmops.cli", "pmops.__main__", "pmops.comply", "pmops.change", "pmops.operations", "pmops.lab",
                 "pmops.status", "pmops.ee", "pmops.slicing"},
}
RANK = {layer: rank for rank, layer in enumerate(LAYERS)}
# The two engines meet only in a command: a playbook's events are handed to the controls.
APART = {"pmops.runner": {"pmops.controls", "pmops.report"},
         "pmops.controls": {"pmops.runner"}, "pmops.report": {"pmops.runner"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PMOPS.rglob("*.py"))}


def layer(module: str) -> str | None:
    for name, members in LAYERS.items():
        if module in members or any(module.startswith(m + ".") for m in members if m != "pmops"):
            return name
    return None


def pmops_imports(module: str) -> set[str]:
    """The pmops modules a module imports, at the top or inside a function."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from pmops import runner` names a module; `from pmops import PmopsError` a name in one
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names}
    return {name for name in found if name == "pmops" or name.startswith("pmops.")}


def test_every_module_of_pmops_has_a_layer():
    assert [m for m in MODULES if layer(m) is None] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_nothing_from_a_layer_above_its_own(module):
    mine = layer(module)
    above = sorted(f"{name} ({layer(name)})" for name in pmops_imports(module) if RANK[layer(name)] > RANK[mine])
    assert above == [], f"{module} ({mine}) imports from a higher layer"


def test_runner_and_the_controls_know_nothing_of_each_other():
    assert {m: sorted(pmops_imports(m) & apart) for m, apart in APART.items() if pmops_imports(m) & apart} == {}


def _uses(module: str, what) -> bool:
    return any(what(node) for node in ast.walk(ast.parse(MODULES[module].read_text())))


def test_only_the_runner_runs_ansible():
    def runs_ansible(node):
        # the ansible-runner package (testinfra's own testinfra.utils.ansible_runner is not it)
        imports = (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ansible_runner") or (
            isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "ansible_runner" for alias in node.names))
        return imports or (isinstance(node, ast.Constant)
                           and node.value in ("ansible-playbook", "ansible-inventory", "PMOPS_AUDIT_EVENTS"))
    assert [m for m in MODULES if _uses(m, runs_ansible)] == ["pmops.runner"]


def test_only_the_controls_read_the_catalogue():
    def names_it(node):
        return isinstance(node, ast.Constant) and node.value in ("catalogue.yml", "controls/catalogue.yml")
    assert [m for m in MODULES if _uses(m, names_it)] == ["pmops.controls"]


def test_the_layer_check_sees_late_imports():
    """cli imports the commands inside main() so that --help stays fast: they still count."""
    assert {"pmops.comply", "pmops.change", "pmops.operations", "pmops.lab", "pmops.load"} <= pmops_imports("pmops.cli")
    assert pmops_imports("pmops.runner") == {"pmops", "pmops.paths"}
