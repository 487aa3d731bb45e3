"""Power Marketing Ops: the operator's command (`pmops`)."""

from __future__ import annotations

import sys
from pathlib import Path

__version__ = "0.1.0"

# The repository root: ansible.cfg, inventories and playbooks live here.
ROOT = Path(__file__).resolve().parent.parent


class PmopsError(Exception):
    """An error the operator can act on; printed without a traceback."""


def progress(message: str) -> None:
    """One line of progress on stderr, so stdout stays clean for data."""
    print(f"pmops: {message}", file=sys.stderr, flush=True)
