"""The access matrix: people, duties and where each duty reaches, compiled per host."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pmops_access_errors
short_description: Find what is wrong with the access matrix
description:
  - Checks C(access_duties) and C(access_people) and returns one message per problem, naming
    the person or duty and the field. Used by the validation play, before anything changes.
  - Refused are an unknown duty, a duty reaching an unknown host or group, a malformed sudo
    rule, a duplicate login or uid, a uid below 1000, a malformed or weak SSH key, a person
    with no key, an expiry date in the past for a person still present, and any entry for
    the automation account (the matrix can never revoke or lock it).
options:
  _input:
    description: C(access_people), a list of people.
    type: list
    required: true
  duties:
    description: C(access_duties), a mapping of duty name to its hosts, sudo rules and groups.
    type: dict
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
  automation_user:
    description: The account playbooks connect as.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check the access matrix
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors }}"
  vars:
    __errors: "{{ access_people | pmops_access_errors(access_duties, groups['all'], groups.keys() | list, 'pmops') }}"

- name: What this host needs
  ansible.builtin.set_fact:
    __plan: "{{ access_people | pmops_access_plan(access_duties, inventory_hostname, group_names) }}"
"""

RETURN = r"""
_value:
  description: Error messages (pmops_access_errors) or the host's plan (pmops_access_plan).
  type: raw
"""

import base64
import binascii
import datetime
import re
import struct
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

LOGIN = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
KEY_TYPES = {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
             "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"}
MIN_RSA_BITS = 3072
MIN_UID = 1000
MAX_UID = 59999
STATES = ("present", "absent")
RESERVED = {"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
            "www-data", "backup", "list", "irc", "nobody", "sshd", "postgres", "systemd-network"}
# Every person allowed on a host is in this group; sshd's AllowGroups names it, and a member
# the plan no longer names is revoked.
LOGIN_GROUP = "pmops-people"


def duty_group(duty: str) -> str:
    return "duty-" + duty.replace("_", "-")


def _date(value) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _today(today) -> datetime.date:
    return _date(today) or datetime.date.today()


def _read_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise ValueError("truncated")
    (length,) = struct.unpack(">I", blob[offset:offset + 4])
    end = offset + 4 + length
    if end > len(blob):
        raise ValueError("truncated")
    return blob[offset + 4:end], end


def key_problem(key) -> str | None:
    """Why an authorized_keys line is unusable, or None when it is a sound public key."""
    if not isinstance(key, str) or not key.strip():
        return "is not a key line"
    parts = key.split()
    if len(parts) < 2:
        return "needs a type and the base64 key"
    kind, data = parts[0], parts[1]
    if kind == "ssh-dss":
        return "is a DSA key, which sshd no longer accepts"
    if kind not in KEY_TYPES:
        return f"has an unknown type {kind!r} (options before the type are not allowed)"
    try:
        blob = base64.b64decode(data, validate=True)
        name, offset = _read_string(blob, 0)
    except (binascii.Error, ValueError):
        return "is not valid base64 key data"
    if name.decode(errors="replace") != kind:
        return f"says {kind} but holds a {name.decode(errors='replace')} key"
    if kind == "ssh-rsa":
        try:
            _, offset = _read_string(blob, offset)  # e
            modulus, _ = _read_string(blob, offset)
        except ValueError:
            return "is a truncated RSA key"
        bits = int.from_bytes(modulus, "big").bit_length()
        if bits < MIN_RSA_BITS:
            return f"is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"
    return None


def _sudo_problems(sudo) -> list[str]:
    if sudo in ("all", "none"):
        return []
    if not isinstance(sudo, list) or not sudo:
        return ["sudo must be 'all', 'none' or a non-empty list of commands"]
    problems = []
    for rule in sudo:
        command = rule.get("command") if isinstance(rule, Mapping) else rule
        runas = rule.get("runas", "root") if isinstance(rule, Mapping) else "root"
        if not isinstance(command, str) or not command.startswith("/"):
            problems.append(f"sudo rule {rule!r} must start with an absolute path")
        elif any(c in command for c in ",:\\=\n"):
            problems.append(f"sudo rule {command!r} holds a character sudoers reads as syntax (, : \\ =)")
        if not isinstance(runas, str) or not LOGIN.match(runas):
            problems.append(f"sudo rule {rule!r}: runas {runas!r} is not an account name")
    return problems


def pmops_access_errors(people, duties, hosts, groups, automation_user, today=None) -> list[str]:
    errors: list[str] = []
    day = _today(today)
    if not isinstance(duties, Mapping):
        return ["access_duties must be a mapping of duty name to its hosts and rights"]
    if not isinstance(people, list):
        return ["access_people must be a list of people"]
    targets = set(hosts) | set(groups)
    for name, duty in duties.items():
        where = f"access_duties.{name}"
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]{0,24}$", name):
            errors.append(f"{where}: a duty name is lower case letters, digits and _")
        if not isinstance(duty, Mapping):
            errors.append(f"{where}: must be a mapping with hosts, sudo and optional groups")
            continue
        reach = duty.get("hosts")
        if not isinstance(reach, list) or not reach:
            errors.append(f"{where}.hosts: must list the inventory groups or hosts the duty reaches")
        else:
            unknown = [h for h in reach if h not in targets]
            if unknown:
                errors.append(f"{where}.hosts: {', '.join(map(str, unknown))} is not a host or group of the inventory")
        errors += [f"{where}.{p}" for p in _sudo_problems(duty.get("sudo", "none"))]
        extra = duty.get("groups", [])
        if not isinstance(extra, list) or not all(isinstance(g, str) and LOGIN.match(g) for g in extra):
            errors.append(f"{where}.groups: must be a list of Unix group names")
    logins: dict[str, int] = {}
    uids: dict[int, str] = {}
    for index, person in enumerate(people):
        if not isinstance(person, Mapping):
            errors.append(f"access_people[{index}]: must be a mapping (login, uid, name, duties, keys)")
            continue
        login = person.get("login")
        who = f"access_people[{index}] ({login})" if login else f"access_people[{index}]"
        state = person.get("state", "present")
        if not isinstance(login, str) or not LOGIN.match(login):
            errors.append(f"{who}.login: {login!r} is not a valid login name")
        elif login == automation_user:
            errors.append(f"{who}: the automation account {automation_user} cannot be managed by the access matrix")
        elif login in RESERVED:
            errors.append(f"{who}.login: {login} is a system account")
        elif login in logins:
            errors.append(f"{who}.login: duplicate of access_people[{logins[login]}]")
        else:
            logins[login] = index
        uid = person.get("uid")
        if not isinstance(uid, int) or isinstance(uid, bool) or not MIN_UID <= uid <= MAX_UID:
            errors.append(f"{who}.uid: {uid!r} must be a number from {MIN_UID} to {MAX_UID}")
        elif uid in uids:
            errors.append(f"{who}.uid: {uid} is already the uid of {uids[uid]}")
        else:
            uids[uid] = str(login)
        if state not in STATES:
            errors.append(f"{who}.state: {state!r} must be one of {', '.join(STATES)}")
        if not isinstance(person.get("name"), str) or not person.get("name", "").strip():
            errors.append(f"{who}.name: the person's full name is required")
        elif ":" in person["name"] or "\n" in person["name"]:
            errors.append(f"{who}.name: may not hold ':' or a line break")
        duty_names = person.get("duties")
        if not isinstance(duty_names, list) or not duty_names:
            errors.append(f"{who}.duties: must list at least one duty")
        else:
            unknown = [d for d in duty_names if d not in duties]
            if unknown:
                errors.append(f"{who}.duties: unknown duty {', '.join(map(str, unknown))} "
                              f"(known: {', '.join(sorted(map(str, duties)))})")
        keys = person.get("keys")
        if state == "present":
            if not isinstance(keys, list) or not keys:
                errors.append(f"{who}.keys: a person who may log in needs at least one SSH public key")
            else:
                for n, key in enumerate(keys):
                    problem = key_problem(key)
                    if problem:
                        errors.append(f"{who}.keys[{n}]: {problem}")
                if len(set(k.split()[1] for k in keys if isinstance(k, str) and len(k.split()) > 1)) < len(keys):
                    errors.append(f"{who}.keys: the same key is listed twice")
        if "expires" in person:
            expires = _date(person["expires"])
            if expires is None:
                errors.append(f"{who}.expires: {person['expires']!r} is not a date (YYYY-MM-DD)")
            elif expires < day and state == "present":
                errors.append(f"{who}.expires: {expires.isoformat()} is in the past; set state: absent to revoke "
                              "the person, or give a new date")
        if not isinstance(person.get("purge", False), bool):
            errors.append(f"{who}.purge: must be true or false")
    return errors


def _reaches(duty: Mapping, host: str, group_names) -> bool:
    return bool({host, *group_names} & set(duty.get("hosts") or []))


def _sudo_lines(duty_name: str, sudo) -> list[str]:
    group = "%" + duty_group(duty_name)
    if sudo == "all":
        # EXEC: every command may start others (a root shell would be useless under the
        # hardening role's `Defaults noexec`); a list of commands keeps noexec
        return [f"{group} ALL=(ALL:ALL) NOPASSWD:EXEC: ALL"]
    if not sudo or sudo == "none":
        return []
    by_runas: dict[str, list[str]] = {}
    for rule in sudo:
        command = rule["command"] if isinstance(rule, Mapping) else rule
        runas = rule.get("runas", "root") if isinstance(rule, Mapping) else "root"
        by_runas.setdefault(runas, []).append(command)
    return [f"{group} ALL=({runas}) NOPASSWD: {', '.join(commands)}" for runas, commands in by_runas.items()]


def privileged(duty: Mapping) -> bool:
    """A duty that grants sudo rights: its holders are administrators (GB/T 22239 8.1.4.1 d)."""
    sudo = duty.get("sudo", "none")
    return bool(sudo) and sudo != "none"


def pmops_access_plan(people, duties, host, group_names, today=None, two_factor_group="") -> dict:
    """What one host needs: accounts present (with groups and keys), accounts to revoke,
    the duty groups and one sudoers file per duty that grants rights here. With
    two_factor_group, a person holding a privileged duty here is in that group (sshd then asks
    them for a one-time code after their key) and marked two_factor."""
    if not isinstance(people, list) or not isinstance(duties, Mapping):
        raise AnsibleFilterError("pmops_access_plan needs access_people (a list) and access_duties (a mapping)")
    day = _today(today)
    here = {name for name, duty in duties.items() if _reaches(duty, host, group_names or [])}
    present, revoke = [], []
    for person in people:
        expires = _date(person.get("expires"))
        mine = [d for d in person.get("duties", []) if d in here]
        active = person.get("state", "present") == "present" and (expires is None or expires >= day)
        if active and mine:
            extra = sorted({g for d in mine for g in duties[d].get("groups", [])})
            two_factor = bool(two_factor_group) and any(privileged(duties[d]) for d in mine)
            if two_factor:
                extra = sorted(set(extra) | {two_factor_group})
            present.append({
                "login": person["login"],
                "uid": person["uid"],
                "name": person["name"],
                "groups": [LOGIN_GROUP] + sorted(duty_group(d) for d in mine) + extra,
                "keys": list(person["keys"]),
                "expires": expires.isoformat() if expires else "",
                "two_factor": two_factor,
            })
        else:
            revoke.append({"login": person["login"], "purge": bool(person.get("purge", False))})
    sudoers = {}
    for name in sorted(here):
        lines = _sudo_lines(name, duties[name].get("sudo", "none"))
        if lines:
            sudoers[name] = lines
    return {
        "present": present,
        "revoke": revoke,
        "groups": [LOGIN_GROUP] + sorted(duty_group(d) for d in here) + ([two_factor_group] if two_factor_group else []),
        "sudoers": sudoers,
    }


class FilterModule:
    def filters(self):
        return {
            "pmops_access_errors": pmops_access_errors,
            "pmops_access_plan": pmops_access_plan,
        }
