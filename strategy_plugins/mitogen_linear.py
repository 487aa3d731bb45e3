# Mitogen's linear strategy, found through the installed ansible_mitogen package (pinned in
# requirements.txt) instead of a path into the virtualenv. Playbooks use it by default
# (ansible.cfg); MITOGEN=0 or ANSIBLE_STRATEGY=linear runs the stock strategy.
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule  # noqa: F401
