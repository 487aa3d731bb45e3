"""Drill order: the compliance drills first, on the lab exactly as converge and testinfra left it.

The other drills put the lab back as they found it, but a compliance run that counts every
control on every host is the one place where a leftover would turn into a false failure, so
it goes before them. Within a module, pytest's order (the file's order) is kept.
"""

from __future__ import annotations

FIRST = ("tests/drills/test_comply.py",)


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: 0 if item.nodeid.startswith(FIRST) else 1)
