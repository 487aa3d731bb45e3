"""Job slicing as AWX does it, made safe: the static topology an inventory carries for the hosts
outside a slice, and the pared-down inventories AWX gives each slice.

A sliced job (AWX's job_slice_count) runs the same playbook N times side by side, each on an
inventory holding every group and its variables but only the slice's hosts: hosts sorted by
name, slice k of n taking every n-th from the k-th. A role that builds a firewall rule or a
pg_hba line from the hostvars of the other tiers would then admit only the peers in its own
slice. So what one host reads of others comes from `pmops_topology` (group_vars/all/
pmops_topology.yml, written here from the whole inventory), and the validation play refuses a
topology that disagrees with the inventory for any host in the run.

Layer: command (cli calls it; it uses the runner engine and the topology library).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import yaml

from pmops import PmopsError, runner, topology

HEADER = """\
# The static topology of this inventory, written by `pmops topology --write -i {shown}`: do not
# edit; `make lint` fails when it differs from the inventory. Every host's address, groups and
# the variables other hosts' roles read of it (firewall peers, pg_hba sources, scrape targets),
# so that a sliced job (AWX's job slicing), whose inventory holds only its slice's hosts, still
# sees the whole system. The validation play refuses it when it disagrees with the inventory.
"""


def topology_file(inventory: runner.Inventory) -> Path:
    base = Path(inventory.path)
    return (base if base.is_dir() else base.parent) / "group_vars" / "all" / "pmops_topology.yml"


def render(inventory: runner.Inventory) -> str:
    try:
        static = topology.build_static(runner.inventory_listing(inventory))
    except ValueError as exc:
        raise PmopsError(f"{inventory.shown}: {exc}") from None
    lines = ["pmops_topology:", "  hosts:"]
    for name, entry in sorted(static["hosts"].items()):
        lines += [f"    {_scalar(name)}:", f"      address: {_scalar(entry['address'])}",
                  f"      groups: [{', '.join(_scalar(g) for g in entry['groups'])}]"]
        lines += ["      vars:" + (" {}" if not entry["vars"] else "")]
        lines += [f"        {key}: {_scalar(value)}" for key, value in sorted(entry["vars"].items())]
    if not static["hosts"]:
        lines[-1] += " {}"
    text = HEADER.format(shown=inventory.shown) + "---\n" + "\n".join(lines) + "\n"
    assert yaml.safe_load(text) == {"pmops_topology": static}, "the topology file must read back as built"
    return text


def _scalar(value) -> str:
    """One YAML scalar on one line, as safe_dump writes it (quoted when it must be)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()


def run_topology(inventory: str, write: bool) -> int:
    """Write the inventory's topology file, or (without write) say whether it is current: exit 1
    with the difference when it is not."""
    inv = runner.resolve_inventory(inventory)
    path, text = topology_file(inv), render(inv)
    current = path.read_text() if path.exists() else ""
    shown = f"{inv.shown.rstrip('/')}/group_vars/all/pmops_topology.yml" if Path(inv.path).is_dir() else str(path)
    if current == text:
        print(f"pmops: {shown} is current ({len(yaml.safe_load(text)['pmops_topology']['hosts'])} hosts)")
        return 0
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"pmops: wrote {shown}")
        return 0
    diff = difflib.unified_diff(current.splitlines(), text.splitlines(), shown, "the inventory", lineterm="", n=1)
    print("\n".join(list(diff)[:40]))
    print(f"pmops: {shown} differs from the inventory; run `pmops topology --write -i {inv.shown}` "
          "and commit the file with the inventory change")
    return 1


def slice_hosts(hosts: list[str], number: int, count: int) -> list[str]:
    """AWX's slice `number` (1-based) of `count`: hosts sorted by name, every count-th from the
    number-th (awx/main/models/inventory.py, get_sliced_hosts)."""
    if not 1 <= number <= count:
        raise PmopsError(f"slice {number} of {count}: the number must be from 1 to {count}")
    return sorted(hosts)[number - 1::count]


def sliced_inventory(export: dict, number: int, count: int) -> dict:
    """The inventory AWX gives slice `number` of `count`, from `ansible-inventory --list --export`
    (group variables on their groups): every group with its variables and children, but only
    the slice's hosts, in Ansible's YAML inventory form."""
    hostvars = (export.get("_meta") or {}).get("hostvars") or {}
    keep = set(slice_hosts(sorted(_hosts(export)), number, count))

    def group(name: str, seen: frozenset) -> dict:
        node = export.get(name) or {}
        out: dict = {}
        if node.get("vars"):
            out["vars"] = node["vars"]
        hosts = {h: hostvars.get(h) or {} for h in node.get("hosts") or [] if h in keep}
        if hosts:
            out["hosts"] = hosts
        children = {c: group(c, seen | {name}) for c in node.get("children") or [] if c not in seen}
        if children:
            out["children"] = children
        return out

    return {"all": group("all", frozenset())}


def _hosts(export: dict) -> set[str]:
    """Every host of an `ansible-inventory --list` listing: in a group, or with variables."""
    found = set((export.get("_meta") or {}).get("hostvars") or {})
    for name, node in export.items():
        if name != "_meta":
            found |= set((node or {}).get("hosts") or [])
    return found


def write_slices(inventory: str, count: int, directory: Path, limit: str | None = None) -> list[Path]:
    """The inventories of every slice of `count`, as slice-K.json in directory (for the slicing
    test and for trying a job template's slicing before AWX runs it). With limit, the inventory
    is first pared down to those hosts (as an AWX inventory of only some hosts would be)."""
    inv = runner.resolve_inventory(inventory)
    export = runner.inventory_listing(inv, "--export", *(["--limit", limit] if limit else []))
    if limit and not _hosts(export):
        raise PmopsError(f"--limit {limit} matches no host of {inv.shown}")
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(1, count + 1):
        path = directory / f"slice-{number}.json"
        path.write_text(json.dumps(sliced_inventory(export, number, count), indent=1, sort_keys=True) + "\n")
        paths.append(path)
    return paths
