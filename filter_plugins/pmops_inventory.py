"""Inventory checks that run before anything changes (playbooks/validate.yml)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pmops_inventory_errors
short_description: Find what is wrong with an inventory before any host is touched
description:
  - Checks every host of an inventory at once and returns a list of error messages,
    each naming the host and the variable and saying what is wrong. An empty list means
    the inventory is fit to run.
  - Checks tier membership (exactly one tier per host), the automation account (set,
    not root), the variables every host needs (C(pmops_environment), C(pmops_owner),
    C(pmops_service), C(pmops_domain)), host addresses (IP, no duplicates), the time
    zone (against the IANA database), NTP server and pool lists, role variables
    whose names are not inputs of any role (typos), and then the types and choices of
    every role input the inventory sets, against the role's argument specs.
options:
  _input:
    description: C(hostvars), or any mapping of host name to that host's variables.
    type: dict
    required: true
  hosts:
    description: The hosts to check (for example C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  tiers:
    description: The tier groups; every host must be in exactly one.
    type: list
    elements: str
    required: true
  role_specs:
    description:
      - Mapping of role name to the options of its C(meta/argument_specs.yml) entry point
        C(main). A host variable that starts with C(<role>_) but is not one of them is
        reported as a typo.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Check the inventory as a whole
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors | join('\n') }}"
  vars:
    __errors: "{{ hostvars | pmops_inventory_errors(ansible_play_hosts_all, ['web', 'app', 'db']) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: Error messages, one per problem, sorted by host; empty when all is well.
  type: list
  elements: str
"""

import difflib
import ipaddress
import re
import zoneinfo
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ENVIRONMENTS = ("lab", "staging", "production")
REQUIRED_STRINGS = ("pmops_owner", "pmops_service")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_MISSING = object()


def _zones() -> set[str]:
    return set(zoneinfo.available_timezones())


def is_ip(value) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def is_ntp_host(value) -> bool:
    """A host name or an IP address, nothing else (no port, scheme, option or space)."""
    return isinstance(value, str) and (is_ip(value) or bool(_HOSTNAME.match(value)))


def _get(hvars: Mapping, name: str):
    try:
        return hvars[name] if name in hvars else _MISSING
    except Exception as exc:  # an undefined variable inside a template
        raise AnsibleFilterError(f"cannot read {name}: {exc}") from exc


def _kind(value) -> str:
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    return type(value).__name__


def _without_defaults(options: Mapping) -> dict:
    return {name: {k: v for k, v in (option or {}).items() if k != "default"} for name, option in options.items()}


def _plain(value):
    """The same data as plain Python types. ansible-core 2.19 tags every value with its origin,
    and the validator deep-copies what it checks: with the tags, that copy walked the parsed
    playbook (site.yml: every role's tasks) and took this task from 2 s to over 20 (measured)."""
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    for kind in (bool, str, int, float):  # bool before int: True is an int too
        if isinstance(value, kind):
            return kind(value)
    return value


def check_specs(hvars: Mapping, role_specs: Mapping[str, Mapping]) -> list[tuple[str, str]]:
    """Types and choices of the role inputs this host sets, from the roles' argument specs."""
    errors = []
    # A value still equal to the role's documented default needs no check, and templating
    # every role default of every host is what makes this slow (HostVarsVars keeps raw values).
    raw = getattr(hvars, "_vars", None)

    def is_default(name, option) -> bool:
        return raw is not None and name in raw and "default" in (option or {}) and raw[name] == option["default"]

    for role, options in role_specs.items():
        given = {k: hvars[k] for k in options if k in hvars and not is_default(k, options[k])}
        if not given:
            continue
        # Only what the host sets is checked: the validator would otherwise fill in every
        # default, and a templated one ("{{ ansible_facts['memtotal_mb'] }}") is not an int yet.
        result = ArgumentSpecValidator(_without_defaults(options)).validate(_plain(given))
        for message in result.error_messages:
            names = [k for k in given if k in message] or [f"{role}_*"]
            errors.append((names[0], message))
    return errors


def check_host(name: str, hvars: Mapping, tiers: list[str], zones: set[str],
               known_inputs: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    errors = []

    def err(variable, message):
        errors.append((variable, message))

    groups = list(_get(hvars, "group_names") if _get(hvars, "group_names") is not _MISSING else [])
    in_tiers = [t for t in tiers if t in groups]
    if len(in_tiers) > 1:
        err("groups", f"host is in {len(in_tiers)} tiers ({', '.join(in_tiers)}); a host belongs to exactly one of {', '.join(tiers)}")
    elif not in_tiers:
        err("groups", f"host is in no tier; put it in exactly one of {', '.join(tiers)}")

    user = _get(hvars, "ansible_user")
    if user is _MISSING or not user:
        err("ansible_user", "is not set; name the non-root automation account playbooks connect as")
    elif str(user) == "root":
        err("ansible_user", "is root; playbooks connect as the non-root automation account and use sudo")

    env = _get(hvars, "pmops_environment")
    if env is _MISSING:
        err("pmops_environment", f"is required (one of {', '.join(ENVIRONMENTS)})")
    elif env not in ENVIRONMENTS:
        err("pmops_environment", f"is {env!r}; it must be one of {', '.join(ENVIRONMENTS)}")
    for var in REQUIRED_STRINGS:
        value = _get(hvars, var)
        if value is _MISSING:
            err(var, "is required and not set")
        elif not isinstance(value, str) or not value.strip():
            err(var, f"must be a non-empty string, not {value!r}")
    domain = _get(hvars, "pmops_domain")
    if domain is _MISSING:
        err("pmops_domain", "is required (the DNS domain of the hosts; an empty string for none)")
    elif not isinstance(domain, str) or (domain and not _HOSTNAME.match(domain)):
        err("pmops_domain", f"{domain!r} is not a DNS domain")

    address_var = "pmops_address" if _get(hvars, "pmops_address") is not _MISSING else "ansible_host"
    address = _get(hvars, address_var)
    if address is _MISSING:
        err("ansible_host", "is not set")
    elif not is_ip(address):
        err(address_var, f"{address!r} is not an IP address; set pmops_address to the host's address for /etc/hosts")

    timezone = _get(hvars, "baseline_timezone")
    if timezone is not _MISSING and (not isinstance(timezone, str) or timezone not in zones):
        err("baseline_timezone", f"{timezone!r} is not an IANA time zone (for example Asia/Shanghai)")

    sources = 0
    for var in ("baseline_ntp_servers", "baseline_ntp_pools"):
        value = _get(hvars, var)
        if value is _MISSING:
            sources += 1  # the role default is a good list
            continue
        if not isinstance(value, (list, tuple)):
            err(var, f"must be a list of host names or addresses, not {_kind(value)} {str(value)!r}")
            sources += 1
            continue
        bad = [v for v in value if not is_ntp_host(v)]
        if bad:
            err(var, f"entries {bad!r} are not host names or IP addresses (one host per entry, no options or ports)")
        sources += len(value)
    if sources == 0:
        err("baseline_ntp_servers", "and baseline_ntp_pools are both empty; give at least one time source")

    for prefix, names in known_inputs.items():
        for var in sorted(k for k in hvars if isinstance(k, str) and k.startswith(prefix)):
            if var not in names:
                close = difflib.get_close_matches(var, names, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                err(var, f"is not an input of any role{hint}")
    return errors


def _hosts_label(hosts: list[str], everyone: int) -> str:
    if len(hosts) == everyone and everyone > 1:
        return f"all {everyone} hosts"
    if len(hosts) > 5:
        return ", ".join(hosts[:5]) + f" and {len(hosts) - 5} more"
    return ", ".join(hosts)


def pmops_inventory_errors(hostvars, hosts, tiers, role_specs=None):
    if not isinstance(tiers, (list, tuple)) or not tiers:
        raise AnsibleFilterError(f"pmops_inventory_errors: tiers must be a non-empty list, not {tiers!r}")
    zones = _zones()
    role_specs = dict(role_specs or {})
    known_inputs = {f"{role}_": sorted(options or {}) for role, options in role_specs.items()}
    found: dict[tuple[str, str], list[str]] = {}
    seen: dict[str, str] = {}
    hosts = sorted(hosts)
    for name in hosts:
        try:
            hvars = hostvars[name]
        except KeyError:
            raise AnsibleFilterError(f"pmops_inventory_errors: no variables for host {name!r}") from None
        problems = check_host(name, hvars, list(tiers), zones, known_inputs)
        if not problems:  # types are checked once names and shapes are right
            problems = check_specs(hvars, role_specs)
        address = _get(hvars, "pmops_address")
        if address is _MISSING:
            address = _get(hvars, "ansible_host")
        if address is not _MISSING and is_ip(address):
            if str(address) in seen:
                problems.append(("ansible_host", f"address {address} is also {seen[str(address)]}'s"))
            else:
                seen[str(address)] = name
        for problem in problems:
            found.setdefault(problem, []).append(name)
    # The same fault in a group's variables is reported once, with the hosts it touches.
    errors = [f"{_hosts_label(names, len(hosts))}: {variable}: {message}"
              for (variable, message), names in found.items()]
    return sorted(errors)


class FilterModule:
    def filters(self):
        return {"pmops_inventory_errors": pmops_inventory_errors}
