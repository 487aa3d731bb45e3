# Mitogen's linear strategy, found through the installed ansible_mitogen package (pinned in
# requirements.txt) instead of a path into the virtualenv. Playbooks use it by default
# (ansible.cfg); MITOGEN=0 or ANSIBLE_STRATEGY=linear runs the stock strategy.
#
# One addition: the filter and test plugins are loaded here, in the process every task's
# worker is forked from, before a play's first task. Mitogen does the same for action,
# module and connection plugins ("PluginLoader caches ... are only populated in the ephemeral
# WorkerProcess"), but not for Jinja's: without it, every worker that templates one of this
# project's filters loads and compiles all of filter_plugins/ again (pmops.checks included).
# site.yml in check mode on the six lab hosts: 135 s of CPU without, 127 s with, 155 s and
# 148 s of wall clock (`make bench-strategy`). PMOPS_WARM_JINJA_PLUGINS=0 turns it off.
import os

from ansible.plugins.loader import filter_loader, test_loader
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as MitogenLinear


def load_jinja_plugins() -> int:
    """Load every filter and test plugin outside collections into the loaders' own cache,
    which a forked worker inherits; the number of plugins loaded."""
    if os.environ.get("PMOPS_WARM_JINJA_PLUGINS", "1") == "0":
        return 0
    return sum(len(list(loader.all())) for loader in (filter_loader, test_loader))


class StrategyModule(MitogenLinear):
    def run(self, iterator, play_context, result=0):
        load_jinja_plugins()
        return super().run(iterator, play_context, result)
