"""Testinfra set-up shared by the lab (`make lab-verify`), molecule and compliance runs.

Expected values come from the inventory (host.ansible.get_variables()) laid over the
role defaults, so the tests check what the inventory asks for, not copies of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def role_defaults(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


@pytest.fixture(scope="module")
def hostvars(host) -> dict:
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def baseline(hostvars) -> dict:
    merged = role_defaults("baseline")
    merged.update({k: v for k, v in hostvars.items() if k.startswith("baseline_")})
    return merged


@pytest.fixture(scope="module")
def over_ssh(hostvars) -> bool:
    """True on the lab and real servers; False under molecule's podman connection."""
    return hostvars.get("ansible_connection", "ssh") in ("ssh", "ansible.builtin.ssh")
