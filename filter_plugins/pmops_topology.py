"""The inventory's topology as addresses, for every role that admits or names peers
(pmops/topology.py holds the code)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pmops import topology  # noqa: E402

DOCUMENTATION = r"""
name: pmops_topology_addresses
short_description: Every group and host name of the inventory to its hosts' addresses
description:
  - C(pmops_topology_addresses) maps each group and host of C(groups) to the addresses of its hosts
    (C(pmops_address), else C(ansible_host), else the name).
  - C(pmops_topology_sources) resolves a source list (groups, hosts, networks, C(any)) against that map;
    C(any) is C(['0.0.0.0/0', '::/0']).
  - With the static topology (C(pmops_topology), group_vars/all/pmops_topology.yml) as second argument,
    C(pmops_topology_addresses) reads it instead: a sliced run's C(groups) and C(hostvars) hold only its
    slice's hosts.
  - C(pmops_topology_view) gives what a role may read of other hosts, C({groups, hosts: {host: {address,
    groups, vars}}}), from the static topology when there is one.
  - C(pmops_topology_hosts_with) lists the hosts of such a view whose published variable is true.
  - C(pmops_topology_errors) names how the static topology differs from the run's inventory.
options:
  _input:
    description: C(groups) (addresses), or a source list (sources).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: The database tier's clients as addresses
  ansible.builtin.debug:
    msg: "{{ ['app', '10.0.9.0/24'] | pmops_topology_sources(groups | pmops_topology_addresses(hostvars)) }}"
"""

RETURN = r"""
_value:
  description: A dict of name to addresses, or a list of addresses and networks.
  type: raw
"""


class FilterModule:
    def filters(self):
        return {
            "pmops_topology_addresses": topology.addresses,
            "pmops_topology_sources": topology.sources,
            "pmops_topology_view": topology.view,
            "pmops_topology_hosts_with": topology.hosts_with,
            "pmops_topology_errors": topology.static_errors,
        }
