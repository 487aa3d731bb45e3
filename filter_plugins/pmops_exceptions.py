"""The exceptions register: waivers of catalogue controls, checked before anything changes."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pmops_exception_errors
short_description: Find what is wrong with the exceptions register
description:
  - Checks C(pmops_exceptions), the register of waived controls, and returns one message per
    problem, naming the entry (by its position and control) and the field.
  - Every entry needs a known control id, the hosts or groups it covers (which must exist in
    the inventory), a reason, an owner and an expiry date (YYYY-MM-DD). A ticket is optional.
  - An expired exception is not an error here (the run goes on and the control is enforced
    and reported as failing); use M(pmops_waivers) to list it.
options:
  _input:
    description: The register, a list of mappings.
    type: list
    required: true
  control_ids:
    description: Ids of the control catalogue.
    type: list
    elements: str
    required: true
  hosts:
    description: Every host of the inventory.
    type: list
    elements: str
    required: true
  groups:
    description: Every group of the inventory.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Check the exceptions register
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors }}"
  vars:
    __errors: "{{ pmops_exceptions | pmops_exception_errors(__ids, groups['all'], groups.keys() | list) }}"
"""

RETURN = r"""
_value:
  description: Error messages; empty when the register is sound.
  type: list
  elements: str
"""

import datetime
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

REQUIRED_TEXT = ("reason", "owner")


def parse_date(value) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        return None


def _today(today) -> datetime.date:
    if today is None:
        return datetime.date.today()
    parsed = parse_date(today)
    if parsed is None:
        raise AnsibleFilterError(f"today must be a date (YYYY-MM-DD), not {today!r}")
    return parsed


def pmops_exception_errors(register, control_ids, hosts, groups):
    if register is None:
        return []
    if not isinstance(register, (list, tuple)):
        return [f"pmops_exceptions: must be a list of exceptions, not {type(register).__name__}"]
    known_ids, known_hosts, known_groups = set(control_ids), set(hosts), set(groups)
    errors = []
    for index, entry in enumerate(register, start=1):
        where = f"pmops_exceptions[{index}]"
        if not isinstance(entry, Mapping):
            errors.append(f"{where}: must be a mapping with control, hosts or groups, reason, owner, expires")
            continue
        control = entry.get("control")
        where = f"{where} ({control})" if control else where
        if not control:
            errors.append(f"{where}: control: is required (a control id from controls/catalogue.yml)")
        elif control not in known_ids:
            errors.append(f"{where}: control: {control!r} is not in controls/catalogue.yml")
        for field in REQUIRED_TEXT:
            value = entry.get(field)
            if not isinstance(value, str) or not value.strip():
                errors.append(f"{where}: {field}: is required (a non-empty text)")
        if "expires" not in entry or entry.get("expires") in (None, ""):
            errors.append(f"{where}: expires: is required (YYYY-MM-DD); exceptions do not last for ever")
        elif parse_date(entry["expires"]) is None:
            errors.append(f"{where}: expires: {entry['expires']!r} is not a date (YYYY-MM-DD)")
        scope_hosts = entry.get("hosts") or []
        scope_groups = entry.get("groups") or []
        if not isinstance(scope_hosts, list) or not isinstance(scope_groups, list):
            errors.append(f"{where}: hosts and groups must be lists")
            continue
        if not scope_hosts and not scope_groups:
            errors.append(f"{where}: hosts or groups: name the hosts or groups the exception covers")
        for name in scope_hosts:
            if name not in known_hosts:
                errors.append(f"{where}: hosts: {name!r} is not in the inventory")
        for name in scope_groups:
            if name not in known_groups:
                errors.append(f"{where}: groups: {name!r} is not in the inventory")
    return errors


def pmops_waivers(register, host, group_names, today=None):
    """Exceptions that cover one host: control id -> waiver with its status (waived or expired)."""
    day = _today(today)
    found = {}
    for entry in register or []:
        if not isinstance(entry, Mapping):
            continue
        covers = host in (entry.get("hosts") or []) or bool(set(entry.get("groups") or []) & set(group_names))
        if not covers:
            continue
        expires = parse_date(entry.get("expires"))
        status = "waived" if expires is not None and expires >= day else "expired"
        current = found.get(entry.get("control"))
        # When two entries cover one control, the one that lasts longer wins.
        if current and current["expires"] >= (expires.isoformat() if expires else ""):
            continue
        found[entry.get("control")] = {
            "status": status,
            "reason": entry.get("reason"),
            "owner": entry.get("owner"),
            "ticket": entry.get("ticket"),
            "expires": expires.isoformat() if expires else "",
        }
    return found


def pmops_expired_exceptions(register, today=None):
    """Entries of the register whose expiry date has passed (their controls are enforced again)."""
    day = _today(today)
    return [dict(entry) for entry in register or []
            if isinstance(entry, Mapping) and (parse_date(entry.get("expires")) or day) < day]


class FilterModule:
    def filters(self):
        return {
            "pmops_exception_errors": pmops_exception_errors,
            "pmops_waivers": pmops_waivers,
            "pmops_expired_exceptions": pmops_expired_exceptions,
        }
