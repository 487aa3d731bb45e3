"""strategy_plugins/mitogen_linear.py: Mitogen's linear strategy, with the filter and test
plugins loaded in the process the task workers are forked from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import importlib.util, os
from ansible.plugins.loader import init_plugin_loader, filter_loader
init_plugin_loader()
spec = importlib.util.spec_from_file_location("shim", "strategy_plugins/mitogen_linear.py")
shim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shim)
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
assert issubclass(shim.StrategyModule, StrategyModule)
loaded = shim.load_jinja_plugins()
# Jinja2Loader's cache (private): what a forked worker inherits instead of loading again
cached = filter_loader._cached_non_collection_wrappers
pid = os.fork()
if pid == 0:
    os._exit(0 if "pmops_drift" in filter_loader._cached_non_collection_wrappers else 3)
_, status = os.waitpid(pid, 0)
print(loaded, "pmops_drift" in cached, "ansible.builtin.to_json" in cached, os.waitstatus_to_exitcode(status))
"""


def probe(env_value: str) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "PMOPS_WARM_JINJA_PLUGINS": env_value}
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()


def test_the_project_filters_are_loaded_before_a_worker_is_forked():
    loaded, project, builtin, child = probe("1")
    assert int(loaded) > 50 and project == "True" and builtin == "True" and child == "0"


def test_the_warm_up_can_be_turned_off():
    loaded, project, _, child = probe("0")
    assert loaded == "0" and project == "False" and child == "3"


def test_ansible_cfg_uses_this_strategy():
    cfg = (ROOT / "ansible.cfg").read_text()
    assert "strategy_plugins = strategy_plugins" in cfg and "strategy = mitogen_linear" in cfg
