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


def shim():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pmops_strategy_shim", ROOT / "strategy_plugins/mitogen_linear.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sleeper(seconds: float):
    import multiprocessing
    import time

    proc = multiprocessing.get_context("fork").Process(target=time.sleep, args=(seconds,))
    proc.start()
    return proc


def test_a_free_or_ended_slot_means_no_wait():
    wait_for = shim().wait_for_a_free_worker
    busy = sleeper(5)
    ended = sleeper(0)
    ended.join()
    try:
        assert wait_for([busy, None]) == 0
        assert wait_for([busy, ended]) == 0
    finally:
        busy.kill()
        busy.join()


def test_with_every_fork_busy_the_wait_sleeps_until_one_ends():
    import time

    wait_for = shim().wait_for_a_free_worker
    workers = [sleeper(0.4), sleeper(5)]
    try:
        started, cpu = time.monotonic(), time.process_time()
        waits = wait_for(workers, timeout=10)
        waited, spent = time.monotonic() - started, time.process_time() - cpu
        assert not workers[0].is_alive() and workers[1].is_alive()
        # ansible-core's own loop would poll the two workers some 2,000 times in that time
        assert waits == 1 and waited < 5 and spent < 0.05
    finally:
        for w in workers:
            w.kill()
            w.join()


def test_the_wait_ends_when_the_run_is_stopped():
    wait_for = shim().wait_for_a_free_worker
    busy = sleeper(5)
    stops = iter([False, True])
    try:
        assert wait_for([busy], lambda: next(stops), timeout=0.05) == 1
    finally:
        busy.kill()
        busy.join()


class FakeTQM:
    def __init__(self, dead=False):
        self._terminated, self.dead = False, dead

    def has_dead_workers(self):
        return self.dead


def waiting_strategy(module, pending: int, dead=False):
    """The strategy's wait for results, on a fake queue manager; _process_pending_results takes
    what arrived, as the core one does."""
    strategy = module.StrategyModule.__new__(module.StrategyModule)
    strategy._results, strategy._pending_results, strategy._tqm = module.Arrivals(), pending, FakeTQM(dead)

    def process(iterator):
        taken = []
        while strategy._results:
            taken.append(strategy._results.popleft())
            strategy._pending_results -= 1
        return taken

    strategy._process_pending_results = process
    return strategy


def test_the_wait_for_results_sleeps_until_each_arrives():
    import threading
    import time

    module = shim()
    strategy = waiting_strategy(module, pending=3)

    def results_thread():
        for n in range(3):
            time.sleep(0.15)
            strategy._results.append(f"result {n}")

    threading.Thread(target=results_thread, daemon=True).start()
    started, cpu = time.monotonic(), time.process_time()
    got = strategy._wait_on_pending_results(iterator=None)
    waited, spent = time.monotonic() - started, time.process_time() - cpu
    # the core loop would have polled some 450 times
    assert got == ["result 0", "result 1", "result 2"] and 0.4 < waited < 5
    assert spent < 0.05


def test_a_dead_worker_still_stops_the_wait():
    import pytest
    from ansible.errors import AnsibleError

    strategy = waiting_strategy(shim(), pending=1, dead=True)
    with pytest.raises(AnsibleError, match="dead state"):
        strategy._wait_on_pending_results(iterator=None)


def test_the_polling_can_be_turned_back_on():
    proc = subprocess.run([sys.executable, "-c", "import importlib.util as u; s = u.spec_from_file_location('m', "
                           "'strategy_plugins/mitogen_linear.py'); m = u.module_from_spec(s); s.loader.exec_module(m); "
                           "print(m.StrategyModule.BLOCKING_WAITS)"],
                          cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PMOPS_BLOCKING_WAITS": "0"})
    assert proc.stdout.split() == ["False"], proc.stderr[-2000:]


FREEZE_PROBE = r"""
import gc, importlib.util, os, sys
spec = importlib.util.spec_from_file_location("shim", "strategy_plugins/mitogen_linear.py")
shim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shim)
heap = [[n] for n in range(20_000)]  # objects the collector tracks, like the controller's
on = shim.freeze_in_workers() and shim.freeze_in_workers()
pid = os.fork()
if pid == 0:
    # what a worker's full collection would walk (and so copy), against what it skips
    os._exit(0 if gc.get_freeze_count() >= len(heap) and len(gc.get_objects(2)) < len(heap) else 3)
_, status = os.waitpid(pid, 0)
print(on, os.waitstatus_to_exitcode(status), gc.get_freeze_count(), len(gc.get_objects()) >= len(heap))
"""


def test_a_worker_freezes_the_heap_it_was_forked_with_and_the_controller_does_not():
    env = {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", FREEZE_PROBE], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.stdout.split() == ["True", "0", "0", "True"], proc.stderr[-2000:]
    proc = subprocess.run([sys.executable, "-c", FREEZE_PROBE], cwd=ROOT, capture_output=True, text=True,
                          env=dict(env, PMOPS_GC_FREEZE="0"))
    assert proc.stdout.split() == ["False", "3", "0", "True"], proc.stderr[-2000:]
