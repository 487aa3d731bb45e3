"""Filters of the postgresql role: pg_hba.conf's rules from the tier policy, as data that both
the template writes and pmops comply compares with pg_hba_file_rules (DB-01)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def pmops_postgresql_hba(roles, sources, tls=True) -> list[dict]:
    """One rule per application role and address it may connect from.

    roles:   postgresql_roles ({name, database, from, ...} each)
    sources: per role, its resolved addresses (pmops_topology_sources of its `from`), in order
    tls:     hostssl (TLS required) or host
    """
    if not isinstance(roles, list) or not isinstance(sources, list) or len(roles) != len(sources):
        raise AnsibleFilterError("pmops_postgresql_hba needs postgresql_roles and, per role, its list of source addresses")
    rules = []
    for role, addresses in zip(roles, sources):
        if not isinstance(role, Mapping) or not role.get("name") or not role.get("database"):
            raise AnsibleFilterError(f"pmops_postgresql_hba: a role needs a name and a database, got {role!r}")
        for address in addresses or []:
            cidr = address if "/" in address else address + ("/128" if ":" in address else "/32")
            rules.append({"type": "hostssl" if tls else "host", "database": [role["database"]], "user": [role["name"]],
                          "address": cidr, "method": "scram-sha-256"})
    return rules


class FilterModule:
    def filters(self):
        return {"pmops_postgresql_hba": pmops_postgresql_hba}
