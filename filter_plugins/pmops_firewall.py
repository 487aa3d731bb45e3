"""The tier firewall policy, compiled per host into nftables sources (pure Python)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pmops_firewall_rules
short_description: Compile the tier firewall policy into one host's inbound rules
description:
  - C(pmops_firewall_rules) turns C(firewall_policy) (tier or group name to a list of
    C({port, proto, from}), where C(from) names inventory groups, hosts, CIDR networks or
    C(any)) into the rules of one host, with every source resolved to addresses.
  - C(pmops_firewall_errors) names what is wrong with the policy, and refuses a set of SSH
    sources that does not hold the control node's address.
options:
  _input:
    description: C(firewall_policy).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Rules for this host
  ansible.builtin.set_fact:
    __rules: "{{ firewall_policy | pmops_firewall_rules(group_names, __addresses) }}"
"""

RETURN = r"""
_value:
  description: A list of C({port, proto, sources}) (sources empty means any), or error messages.
  type: list
"""

import sys
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pmops.topology import covers, network, resolve  # noqa: E402

PROTOS = ("tcp", "udp")


def pmops_firewall_rules(policy, group_names, addresses) -> list[dict]:
    rules = []
    for target, entries in (policy or {}).items():
        if target != "all" and target not in group_names:
            continue
        for entry in entries or []:
            rules.append({
                "port": entry["port"],
                "proto": entry.get("proto", "tcp"),
                "sources": resolve(entry.get("from", ["any"]), addresses),
                "comment": entry.get("comment", f"{target}: {entry['port']}"),
            })
    return sorted(rules, key=lambda r: (r["proto"], int(str(r["port"]).split("-")[0])))


def pmops_firewall_errors(policy, ssh_from, addresses, control_address=None) -> list[str]:
    errors = []
    if not isinstance(policy, Mapping):
        return ["firewall_policy must map a tier or group to its inbound rules"]
    for target, entries in policy.items():
        if target != "all" and target not in addresses:
            errors.append(f"firewall_policy.{target}: not a group or host of the inventory")
        for n, entry in enumerate(entries or []):
            where = f"firewall_policy.{target}[{n}]"
            if not isinstance(entry, Mapping) or "port" not in entry:
                errors.append(f"{where}: needs a port")
                continue
            port = str(entry["port"])
            bounds = port.split("-", 1)
            if not all(b.isdigit() and 1 <= int(b) <= 65535 for b in bounds):
                errors.append(f"{where}.port: {port!r} is not a port or a range (1-65535)")
            if entry.get("proto", "tcp") not in PROTOS:
                errors.append(f"{where}.proto: must be tcp or udp")
            for source in entry.get("from", ["any"]):
                if source != "any" and source not in addresses and network(source) is None:
                    errors.append(f"{where}.from: {source!r} is not a group, host, network or 'any'")
    for source in ssh_from or []:
        if source not in addresses and network(source) is None:
            errors.append(f"firewall_ssh_from: {source!r} is not a group, host or network")
    if control_address and not errors and not covers(control_address, resolve(ssh_from, addresses) or []):
        errors.append(f"firewall_ssh_from {list(ssh_from or [])} does not hold the control node's address "
                      f"{control_address}: the rule set would drop this very SSH connection; nothing was loaded")
    return errors


class FilterModule:
    def filters(self):
        return {
            "pmops_firewall_errors": pmops_firewall_errors,
            "pmops_firewall_rules": pmops_firewall_rules,
        }
