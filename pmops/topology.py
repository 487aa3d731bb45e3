"""The inventory's topology as addresses: every group and host name to its hosts' addresses,
and source lists (groups, hosts, networks, `any`) resolved against them.

Shared by every role that admits or names peers: the firewall's rules, pg_hba's sources, the
proxy's upstream members, the backup repository's per-client keys, and the validation play
(filter_plugins/pmops_topology.py). Pure Python.

Layer: library (imports no engine and no command; it runs inside Ansible too).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

ANY = ["0.0.0.0/0", "::/0"]


def network(value: str):
    """An address or network, or None when value is neither."""
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return None


# What one host's roles read of another host, besides its address and groups: the labels of
# its scrape targets and which exporters it runs. The static topology carries exactly these.
PUBLISHED = ("pmops_environment", "pmops_owner", "pmops_service", "exporters_postgres_enabled",
             "nginx_metrics_enabled", "nginx_metrics_port")
# Groups every inventory has; they say nothing of a host.
IMPLICIT = ("all", "ungrouped")


def _address(name: str, hv: Mapping) -> str:
    return str(hv.get("pmops_address") or hv.get("ansible_host") or name)


def _entry(name: str, hv: Mapping, groups: list[str]) -> dict:
    """One host as the topology holds it: its address, groups and PUBLISHED variables."""
    return {"address": _address(name, hv), "groups": sorted(g for g in groups if g not in IMPLICIT),
            "vars": {key: hv[key] for key in PUBLISHED if key in hv}}


def addresses(groups: Mapping, hostvars: Mapping, static: Mapping | None = None) -> dict[str, list[str]]:
    """Every group and host name of the inventory to its hosts' addresses (pmops_address, else
    ansible_host, else the name). With the static topology (pmops_topology), from it: a sliced
    run's inventory holds only the slice's hosts, but a firewall still admits every peer."""
    known = view(groups, hostvars, static)
    found = {host: entry["address"] for host, entry in known["hosts"].items()}
    out = {name: sorted({found[h] for h in members}) for name, members in known["groups"].items()}
    out.update({host: [address] for host, address in found.items()})
    return out


def view(groups: Mapping, hostvars: Mapping, static: Mapping | None = None) -> dict:
    """What a role may read of other hosts: {groups: {group: [hosts]}, hosts: {host: {address,
    groups, vars}}} with vars the PUBLISHED ones. From the static topology when there is one
    (a sliced run's groups and hostvars hold only its slice), else from groups and hostvars."""
    if static:
        return {"groups": dict(static_groups(static), all=sorted(static["hosts"])),
                "hosts": {name: dict(entry) for name, entry in static["hosts"].items()}}
    return {"groups": {name: sorted(members) for name, members in groups.items()},
            "hosts": {name: _entry(name, hostvars[name], hostvars[name].get("group_names", []))
                      for name in groups.get("all", [])}}


def hosts_with(topo_view: Mapping, variable: str) -> list[str]:
    """The hosts of a view() whose published variable is true (an exporter they run)."""
    return sorted(name for name, entry in topo_view["hosts"].items() if entry["vars"].get(variable))


def static_groups(static: Mapping) -> dict[str, list[str]]:
    """The groups of a static topology, each with its hosts (sorted)."""
    out: dict[str, set[str]] = {}
    for host, entry in static["hosts"].items():
        for group in entry["groups"]:
            out.setdefault(group, set()).add(host)
    return {group: sorted(hosts) for group, hosts in sorted(out.items())}


def build_static(listing: Mapping) -> dict:
    """The static topology of an inventory from `ansible-inventory --list` (variables merged per
    host): every host's address, groups and PUBLISHED variables. Raises ValueError when one of
    those is a template: the topology is data, the same for every slice of a run."""
    hostvars = (listing.get("_meta") or {}).get("hostvars") or {}

    def members(group: str, seen: frozenset = frozenset()) -> set[str]:
        node = listing.get(group) or {}
        found = set(node.get("hosts") or [])
        for child in node.get("children") or []:
            if child not in seen:
                found |= members(child, seen | {group})
        return found

    groups = {g: members(g) for g in listing if g != "_meta" and g not in IMPLICIT}
    hosts = {}
    for name in sorted(hostvars):
        entry = _entry(name, hostvars[name], [g for g, m in groups.items() if name in m])
        for key, value in [("address", entry["address"])] + list(entry["vars"].items()):
            if "{{" in str(value) or "{%" in str(value):
                raise ValueError(f"{name}: {key} is a template ({value!r}); the static topology needs its value")
        hosts[name] = entry
    return {"hosts": hosts}


def static_errors(static: Mapping | None, hostvars: Mapping, hosts: list[str]) -> list[str]:
    """How the static topology differs from the run's inventory, for the hosts in it (a sliced
    run has only some): a host it lacks, another address, other groups, another published value."""
    if not static:
        return []
    if not isinstance(static, Mapping) or not isinstance(static.get("hosts"), Mapping):
        return ["pmops_topology: must be a mapping with 'hosts' (written by `pmops topology --write`)"]
    errors = []
    for name in sorted(hosts):
        hv, entry = hostvars[name], static["hosts"].get(name)
        if entry is None:
            errors.append(f"pmops_topology: host {name} is in the inventory but not in the topology")
            continue
        wanted = _entry(name, hv, hv.get("group_names", []))
        for key in ("address", "groups", "vars"):
            if entry.get(key) != wanted[key]:
                errors.append(f"pmops_topology: {name}'s {key} is {entry.get(key)!r} there but {wanted[key]!r} "
                              "in the inventory")
    return errors


def resolve(sources, known: Mapping[str, list[str]]) -> list[str] | None:
    """Addresses and networks for a list of sources; None means any. `known` is addresses()."""
    out: list[str] = []
    for source in sources or []:
        if source == "any":
            return None
        if source in known:
            out += known[source]
        else:
            net = network(source)
            if net is not None:
                out.append(str(net) if net.num_addresses > 1 else str(net.network_address))
    return sorted(set(out), key=lambda a: (ipaddress.ip_network(a, strict=False).version, a))


def sources(names, known: Mapping[str, list[str]]) -> list[str]:
    """Addresses and networks of a source list; ['0.0.0.0/0', '::/0'] for any."""
    resolved = resolve(names, known)
    return list(ANY) if resolved is None else resolved


def covers(address: str, nets: list[str] | None) -> bool:
    """Whether an address is in one of the networks (None: any)."""
    if nets is None:
        return True
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(s, strict=False) for s in nets)
