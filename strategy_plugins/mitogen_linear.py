# Mitogen's linear strategy, found through the installed ansible_mitogen package (pinned in
# requirements.txt) instead of a path into the virtualenv. Playbooks use it by default
# (ansible.cfg); MITOGEN=0 or ANSIBLE_STRATEGY=linear runs the stock strategy.
#
# Three additions:
#
# - The filter and test plugins are loaded here, in the process every task's worker is forked
#   from, before a play's first task. Mitogen does the same for action, module and connection
#   plugins ("PluginLoader caches ... are only populated in the ephemeral WorkerProcess"), but
#   not for Jinja's: without it, every worker that templates one of this project's filters
#   loads and compiles all of filter_plugins/ again (pmops.checks included). site.yml in check
#   mode on the six lab hosts: 135 s of CPU without, 127 s with, 155 s and 148 s of wall clock
#   (`make bench-strategy`). PMOPS_WARM_JINJA_PLUGINS=0 turns it off.
#
# - The controller waits without using the CPU. ansible-core polls: when every fork is busy, its
#   _queue_task checks the workers (a waitpid each) every 0.1 ms until one ends, and while a
#   task's results are due, _wait_on_pending_results looks at them and at the workers every
#   1 ms. On a play of more hosts than forks the first loop is most of the controller's own
#   CPU and grows with the hosts queued behind the forks (a 48-host converge with 12 forks:
#   about 15 % of a core for the whole run); the second costs every ansible-playbook process
#   the same while it waits, so four slices run side by side pay it four times. Here the next
#   host's task waits on the busy workers' sentinels (readable when a process ends), and the
#   wait for results on an event the results thread sets with each result it hands over.
#   PMOPS_BLOCKING_WAITS=0 turns it off.
#
# - Every worker freezes the heap it was forked with (gc.freeze, first thing in the child). A
#   garbage collection in the worker then skips the controller's objects, instead of touching
#   every one and so copying every page of the parent's heap into the worker (copy-on-write):
#   that copy grows with the heap, which grows with the hosts in the play (their facts,
#   results and state). The parent is not touched: it collects as before. Python's
#   documentation recommends freezing for this pattern. PMOPS_GC_FREEZE=0 turns it off.
import collections
import gc
import os
import threading
from multiprocessing.connection import wait

from ansible.errors import AnsibleError
from ansible.plugins.loader import filter_loader, test_loader
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as MitogenLinear


def switched_on(variable: str) -> bool:
    """An addition's switch: on unless the variable is 0."""
    return os.environ.get(variable, "1") != "0"


def load_jinja_plugins() -> int:
    """Load every filter and test plugin outside collections into the loaders' own cache,
    which a forked worker inherits; the number of plugins loaded."""
    if not switched_on("PMOPS_WARM_JINJA_PLUGINS"):
        return 0
    return sum(len(list(loader.all())) for loader in (filter_loader, test_loader))


def wait_for_a_free_worker(workers: list, stop=lambda: False, timeout: float = 1.0) -> int:
    """Block until a slot of `workers` (ansible's list of WorkerProcess or None) is empty or
    holds an ended process, or `stop()` is true; the number of waits. Sleeps in select() on
    the busy processes' sentinels. A sentinel is readable as soon as its process closes its
    files, a moment before the process can be reaped: that one is joined, so that the next
    look (here and in the core loop) sees it ended."""
    waits = 0
    while not stop():
        busy = [w for w in workers if w is not None and w.is_alive()]
        if len(busy) < len(workers):
            break
        ready = wait([w.sentinel for w in busy], timeout)
        for worker in busy:
            if worker.sentinel in ready:
                worker.join(timeout)
        waits += 1
    return waits


_FREEZING = False  # the fork hook is registered


def freeze_in_workers() -> bool:
    """Have every child forked from here on (the task workers) freeze its heap first thing:
    O(1), a splice of the collector's lists, and the parent's own lists are left alone. Twice
    is harmless (a second freeze has nothing left to move)."""
    global _FREEZING
    if not switched_on("PMOPS_GC_FREEZE"):
        return False
    if not _FREEZING:  # a strategy is made for every play: one hook is enough
        os.register_at_fork(after_in_child=gc.freeze)
        _FREEZING = True
    return True


class Arrivals(collections.deque):
    """The strategy's queue of task results (the results thread appends to it), which also
    sets `arrived` with each one, for the main thread to wait on."""

    def __init__(self, *args):
        super().__init__(*args)
        self.arrived = threading.Event()

    def append(self, item):
        super().append(item)
        self.arrived.set()


class StrategyModule(MitogenLinear):
    BLOCKING_WAITS = switched_on("PMOPS_BLOCKING_WAITS")
    # How often a wait for results still looks for a worker killed before it could send one,
    # and for a run stopped by a signal.
    RECHECK = 0.25

    def __init__(self, tqm):
        super().__init__(tqm)
        freeze_in_workers()
        if self.BLOCKING_WAITS:
            # before any task is queued, so nothing has arrived yet
            with self._results_lock:
                self._results = Arrivals(self._results)

    def run(self, iterator, play_context, result=0):
        load_jinja_plugins()
        return super().run(iterator, play_context, result)

    def _queue_task(self, host, task, task_vars, play_context):
        # A throttled task may use only some of the slots: left to the core loop.
        if self.BLOCKING_WAITS and not task.throttle:
            wait_for_a_free_worker(self._workers, lambda: self._tqm._terminated)
        return super()._queue_task(host, task, task_vars, play_context)

    def _wait_on_pending_results(self, iterator):
        """The core method's loop, sleeping until a result arrives instead of for 1 ms."""
        if not isinstance(self._results, Arrivals):
            return super()._wait_on_pending_results(iterator)
        results = []
        while self._pending_results > 0 and not self._tqm._terminated:
            if self._tqm.has_dead_workers():
                raise AnsibleError("A worker was found in a dead state")
            self._results.arrived.clear()
            results.extend(self._process_pending_results(iterator))
            if self._pending_results > 0:
                self._results.arrived.wait(self.RECHECK)
        return results
