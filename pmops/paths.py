"""Where pmops finds the project and keeps what it makes, written down once.

pmops runs from its checkout (installed editable), so the package's parent directory is the
project: ansible.cfg, the inventories, the playbooks and the control catalogue. Every module
of pmops takes these from here; a script or test that must find its own checkout before it
can import pmops (the virtualenv's pmops may be another checkout's) computes its own.

Layer: base (imports nothing of pmops); see pmops/__init__.py for the layers.
"""

from __future__ import annotations

import os
from pathlib import Path

# The repository root: ansible.cfg, inventories and playbooks live here.
ROOT = Path(__file__).resolve().parent.parent
ANSIBLE_CFG = ROOT / "ansible.cfg"
# What may be thrown away and made again: Ansible's fact cache, deploy and patch reports.
CACHE = ROOT / ".cache"
# podman's settings on this machine (runc, ulimits): the lab and the execution environment.
CONTAINERS_CONF = ROOT / "lab" / "containers.conf"


def state_dir() -> Path:
    """Where reports and the run log live: $PMOPS_STATE_DIR (a control node: /var/lib/pmops) or the checkout."""
    return Path(os.environ.get("PMOPS_STATE_DIR") or ROOT)
