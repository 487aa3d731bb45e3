"""Power Marketing Ops: the operator's command (`pmops`)."""

from __future__ import annotations

import sys

__version__ = "0.1.0"


class PmopsError(Exception):
    """An error the operator can act on; printed without a traceback."""


def progress(message: str) -> None:
    """One line of progress on stderr, so stdout stays clean for data."""
    print(f"pmops: {message}", file=sys.stderr, flush=True)
