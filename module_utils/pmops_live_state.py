"""Pure parsers of the pmops_live_state module (unit-tested without a host).

Each function turns what a host's own tools print (sshd -T, /etc/passwd, /etc/shadow,
/etc/group, systemctl show, ss) into plain data that the controller's control checks
(pmops/checks.py) compare with the policy. Nothing here reads a secret's value: a
password hash becomes only whether there is one.
"""

from __future__ import annotations

# Shells that do not give an interactive login.
NOLOGIN_SHELLS = frozenset({"/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", ""})


def parse_sshd_t(text: str) -> dict[str, list[str]]:
    """`sshd -T` lines to {key: [values]} (AllowGroups and the like print one line per value)."""
    config: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            config.setdefault(key.lower(), []).append(value)
    return config


def parse_passwd(text: str) -> list[dict]:
    accounts = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or line.startswith("#"):
            continue
        accounts.append({"name": fields[0], "uid": int(fields[2]), "gid": int(fields[3]),
                         "gecos": fields[4], "home": fields[5], "shell": fields[6]})
    return accounts


def password_state(field: str) -> str:
    """The state of a shadow password field, never its value.

    none: empty (no password needed to log in); locked: '!' or '*' first (also '!hash',
    a locked account that keeps its hash); set: a usable hash.
    """
    if field == "":
        return "none"
    if field[0] in "!*":
        return "locked"
    return "set"


def parse_shadow(text: str) -> dict[str, dict]:
    """/etc/shadow to {name: {password, expires}} (expires: days since 1970, or None)."""
    entries = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 8:
            continue
        expires = fields[7].strip()
        entries[fields[0]] = {"password": password_state(fields[1]),
                              "expires": int(expires) if expires.lstrip("-").isdigit() else None}
    return entries


def parse_group(text: str) -> dict[str, dict]:
    """/etc/group to {name: {gid, members}} (secondary members only)."""
    groups = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4:
            continue
        groups[fields[0]] = {"gid": int(fields[2]), "members": [m for m in fields[3].split(",") if m]}
    return groups


def accounts(passwd: str, shadow: str, group: str) -> dict:
    """Every account with its password state, expiry and groups (primary first)."""
    shadows = parse_shadow(shadow)
    groups = parse_group(group)
    by_gid = {g["gid"]: name for name, g in groups.items()}
    result = {}
    for acc in parse_passwd(passwd):
        name = acc["name"]
        primary = by_gid.get(acc["gid"])
        secondary = sorted(g for g, data in groups.items() if name in data["members"] and g != primary)
        entry = dict(acc)
        entry.update(shadows.get(name, {"password": "unknown", "expires": None}))
        entry["groups"] = ([primary] if primary else []) + secondary
        entry["login_shell"] = acc["shell"] not in NOLOGIN_SHELLS
        result[name] = entry
    return {"accounts": result, "groups": groups}


def parse_systemctl_show(text: str) -> dict[str, dict]:
    """`systemctl show -p Id,LoadState,ActiveState,SubState,UnitFileState U1 U2 ...` to
    {unit: {load, active, sub, enabled}} (blocks separated by blank lines, in the given order)."""
    units = {}
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if not props.get("Id"):
            continue
        units[props["Id"]] = {"load": props.get("LoadState", ""), "active": props.get("ActiveState", ""),
                              "sub": props.get("SubState", ""), "enabled": props.get("UnitFileState", ""),
                              "calendar": props.get("TimersCalendar", "")}
    return units


def _split_address(text: str) -> tuple[str, int | None]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if "%" in host:  # 127.0.0.53%lo: the interface the socket is bound to
        host = host.split("%", 1)[0]
    return host, int(port) if port.isdigit() else None


def parse_ss(text: str) -> list[dict]:
    """`ss -Htulnp` (no header) to [{proto, address, port, process}], one per listening socket."""
    sockets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        proto, local = fields[0], fields[4]
        address, port = _split_address(local)
        process = ""
        if len(fields) > 6 and fields[6].startswith("users:"):
            start = fields[6].find('(("')
            if start >= 0:
                process = fields[6][start + 3:].split('"', 1)[0]
        sockets.append({"proto": proto, "address": address, "port": port, "process": process})
    return sockets
