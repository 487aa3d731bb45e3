"""Power Marketing Ops: the operator's command (`pmops`).

The package is in layers; a module imports only from its own layer or the ones below
(tests/unit/test_pmops_layers.py holds it to that, DEVELOPERS.md "pmops in layers"):

  commands   cli, comply, change (plan, apply, history), operations (deploy, rollback, patch,
             backup, restore), lab (the lab: base, image, hosts, secrets)
  engines    runner (runs Ansible: the inventory, its hosts, playbooks, their events);
             controls (knows the controls: catalogue, statuses, waivers) and report (writes
             their results). runner and controls never import each other: a command joins them.
  libraries  checks, topology, plan, runlog, load, pytest_results (pure code and file formats)
  base       this module (PmopsError, progress) and paths (ROOT and the other paths)
"""

from __future__ import annotations

import sys

__version__ = "0.1.0"


class PmopsError(Exception):
    """An error the operator can act on; printed without a traceback."""


def progress(message: str) -> None:
    """One line of progress on stderr, so stdout stays clean for data."""
    print(f"pmops: {message}", file=sys.stderr, flush=True)
