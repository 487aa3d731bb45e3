"""The scale lab: `pmops lab up --scale N` adds N generic hosts (gen-01 ... gen-N) to the six, for
measuring how the project's cost grows with the fleet (bench/bench_scale.py).

A generic host is a member of the `generic` tier: the policy every host of the marketing system
has (baseline, access, hardening, monitoring exporters, malware prevention, the tier firewall,
backups of /etc) and no service of its own. Its inventory is written to .lab/scale/: inventory/lab
(every group_vars file linked, not copied, so a change there is a change here), the tier's own
variables from lab/scale/group_vars/, the generic hosts, and the static topology of the whole,
as `pmops topology --write` writes it. While .lab/scale/ exists it is the lab: `pmops lab status`,
`ssh` and `down` see every host; playbooks take `-i .lab/scale`.

Layer: command, part of pmops.lab; imports pmops.lab.base, and pmops.runner and pmops.slicing to
write the topology (as `pmops topology --write` does).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path

import yaml

from pmops import PmopsError, progress
from pmops.lab.base import INVENTORY, SCALE_INVENTORY, _load_yaml, _shown
from pmops.paths import ROOT

TIER = "generic"
OVERLAY = ROOT / "lab" / "scale"
FIRST_HOST = 101  # gen-01 is .101 of the lab's subnet
MAX_SCALE = 100   # .101 to .200: clear of the gateway (.1) and the six hosts (.11 to .51) in a /24
HEADER = """\
# The scale lab's inventory, written by `pmops lab up --scale {count}`: inventory/lab's hosts and
# {count} generic hosts (the `generic` tier, lab/scale/group_vars/generic). Do not edit: `pmops lab up
# --scale N` writes it again, `pmops lab up --scale 0` or `pmops lab down` removes it.
"""


def generic_name(number: int) -> str:
    return f"gen-{number:02d}"


def current_scale() -> int:
    """How many generic hosts the scale lab has (0 without one)."""
    path = SCALE_INVENTORY / "hosts.yml"
    if not path.exists():
        return 0
    node = (_load_yaml(path).get("pmops") or {}).get("children", {}).get(TIER) or {}
    return len(node.get("hosts") or {})


def generic_hosts(count: int, subnet: str) -> dict[str, dict]:
    """The generic hosts' inventory entries: gen-NN at .(100 + NN) of the lab's subnet."""
    if not 0 <= count <= MAX_SCALE:
        raise PmopsError(f"--scale {count}: the scale lab has from 0 to {MAX_SCALE} generic hosts")
    net = ipaddress.ip_network(subnet)
    hosts = {}
    for number in range(1, count + 1):
        address = net.network_address + FIRST_HOST + number - 1
        if address not in net or address == net.broadcast_address:
            raise PmopsError(f"--scale {count}: {generic_name(number)}'s address {address} is outside "
                             f"pmops_lab_subnet {subnet}")
        hosts[generic_name(number)] = {"ansible_host": str(address)}
    return hosts


def write_inventory(count: int, subnet: str) -> Path:
    """Write .lab/scale/ for `count` generic hosts (remove it for 0); return the lab's inventory."""
    if count == 0:
        remove_inventory()
        return INVENTORY
    base = _load_yaml(INVENTORY / "hosts.yml")
    pmops = base.get("pmops") or {}
    children = pmops.setdefault("children", {})
    if TIER in children:
        raise PmopsError(f"inventory/lab/hosts.yml already has a group {TIER!r}, which the scale lab adds")
    taken = {str(h.get("ansible_host")) for node in children.values() for h in (node.get("hosts") or {}).values()}
    children[TIER] = {"hosts": generic_hosts(count, subnet)}
    clash = taken & {h["ansible_host"] for h in children[TIER]["hosts"].values()}
    if clash:
        raise PmopsError(f"--scale {count}: address {sorted(clash)[0]} is already a host's in inventory/lab/hosts.yml")
    tmp = SCALE_INVENTORY.with_name("scale.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "hosts.yml").write_text(HEADER.format(count=count) + "---\n" + yaml.safe_dump(base, sort_keys=False))
    # Every group_vars file of the lab, then the overlay's (which win over a file of the same name).
    for source in (INVENTORY / "group_vars", OVERLAY / "group_vars"):
        for path in sorted(p for p in source.glob("*/*") if p.suffix in (".yml", ".yaml")):
            if path.name == "pmops_topology.yml":
                continue
            target = tmp / "group_vars" / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            # Relative to the final directory, which tmp becomes.
            final_parent = SCALE_INVENTORY / "group_vars" / path.parent.name
            target.symlink_to(os.path.relpath(path, final_parent))
    shutil.rmtree(SCALE_INVENTORY, ignore_errors=True)
    tmp.rename(SCALE_INVENTORY)
    write_topology()
    return SCALE_INVENTORY


def write_topology() -> None:
    from pmops import runner, slicing
    inv = runner.Inventory(_shown(SCALE_INVENTORY), str(SCALE_INVENTORY))
    path = slicing.topology_file(inv)
    path.write_text(slicing.render(inv))


def remove_inventory() -> None:
    if SCALE_INVENTORY.exists():
        progress(f"removing the scale lab's inventory ({_shown(SCALE_INVENTORY)})")
        shutil.rmtree(SCALE_INVENTORY)
