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


def addresses(groups: Mapping, hostvars: Mapping) -> dict[str, list[str]]:
    """Every group and host name of the inventory to its hosts' addresses
    (pmops_address, else ansible_host, else the name)."""
    def address(host):
        hv = hostvars[host]
        return str(hv.get("pmops_address") or hv.get("ansible_host") or host)
    out = {name: sorted({address(h) for h in members}) for name, members in groups.items()}
    for host in groups.get("all", []):
        out[host] = [address(host)]
    return out


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
