"""Shared test set-up: the repository root on sys.path for pmops, filters and scripts."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for sub in ("", "filter_plugins", "scripts"):
    path = str(ROOT / sub) if sub else str(ROOT)
    if path not in sys.path:
        sys.path.insert(0, path)
