"""pmops comply reads a tier role's `wanted` on exactly the hosts marketing.yml gives that role:
a role converged on a group comply does not read would go unchecked, and the other way round
every control of the role would fail on hosts that never had it."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def converged_on() -> dict[str, str]:
    """role -> the group its play in marketing.yml runs on (roles: or include_role)."""
    out = {}
    for play in yaml.safe_load((ROOT / "playbooks" / "marketing.yml").read_text()):
        for entry in play.get("roles") or []:
            out[entry["role"] if isinstance(entry, dict) else entry] = play["hosts"]
    return out


def read_on() -> dict[str, str]:
    """role -> the group the compliance role reads its `wanted` on."""
    out = {}
    for task in yaml.safe_load((ROOT / "roles" / "compliance" / "tasks" / "wanted.yml").read_text()):
        role = task["ansible.builtin.import_role"]["name"]
        when = task.get("when", "")
        out[role] = when.split("'")[1] if when else "pmops"
    return out


def test_each_tier_role_is_read_where_it_is_converged():
    tiers = converged_on()
    assert tiers == {"postgresql": "db", "app": "app", "nginx": "web"}
    read = read_on()
    for role, group in tiers.items():
        assert read.get(role) == group, (role, group, read.get(role))
