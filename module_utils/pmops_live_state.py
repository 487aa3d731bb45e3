"""Pure parsers of the pmops_live_state module (unit-tested without a host).

Each function turns what a host's own tools print (sshd -T, /etc/passwd, /etc/shadow,
/etc/group, systemctl show, ss) into plain data that the controller's control checks
(pmops/checks.py) compare with the policy. Nothing here reads a secret's value: a
password hash becomes only whether there is one.
"""

from __future__ import annotations

import json

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


def _days(field: str) -> int | None:
    field = field.strip()
    return int(field) if field.lstrip("-").isdigit() else None


def parse_shadow(text: str) -> dict[str, dict]:
    """/etc/shadow to {name: {password, expires, changed, min, max, warn, inactive}}: the
    password's state (never its value), the day of its last change and the day the account
    expires (days since 1970), the ageing fields in days; None for an empty field."""
    entries = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 8:
            continue
        entries[fields[0]] = {"password": password_state(fields[1]), "expires": _days(fields[7]),
                              "changed": _days(fields[2]), "min": _days(fields[3]), "max": _days(fields[4]),
                              "warn": _days(fields[5]), "inactive": _days(fields[6])}
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
    return {"accounts": result, "groups": groups, "databases": databases(passwd, group)}


def databases(passwd: str, group: str) -> dict:
    """The account databases line by line, duplicates kept (the parsers above key by name):
    passwd as [name, uid, gid, shadowed] (shadowed: the password field is 'x', the hash lives in
    /etc/shadow; never the field itself), group as [name, gid, members]."""
    users = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and not line.startswith("#") and fields[2].isdigit() and fields[3].isdigit():
            users.append([fields[0], int(fields[2]), int(fields[3]), fields[1] == "x"])
    groups = []
    for line in group.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit():
            groups.append([fields[0], int(fields[2]), [m for m in fields[3].split(",") if m]])
    return {"passwd": users, "group": groups}


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


# ------------------------------------------------------------------ monitoring (MON-*)
# What follows talks HTTP, still read-only: the anonymous probes of an exporter's port and the
# monitor's own APIs (targets, rules, flags), which are the state in force of monitoring.
def http_status(head: bytes) -> int | None:
    """The status code of an HTTP answer's first bytes, or None when they are not HTTP."""
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def probe_anonymous(host: str, port: int, tls: bool, timeout: float = 5.0) -> dict:
    """GET /metrics as a stranger - no client certificate, no password - over TLS (not
    verifying the server) or plain HTTP: {status: HTTP status or None, error: why nothing answered}.
    An exporter of the secure path answers neither with data."""
    import socket
    import ssl

    request = f"GET /metrics HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            conn = raw
            if tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                conn = context.wrap_socket(raw, server_hostname=host)
            conn.sendall(request)
            head = conn.recv(256)
    except ssl.SSLError as exc:
        return {"status": None, "error": f"TLS refused: {exc.reason or exc}"}
    except ConnectionRefusedError:
        return {"status": None, "error": "connection refused: nothing listens"}
    except OSError as exc:
        return {"status": None, "error": f"{type(exc).__name__}: {exc}"}
    if not head:
        return {"status": None, "error": "closed without an answer"}
    status = http_status(head)
    return {"status": status, "error": "" if status is not None else "answered, but not HTTP"}


def http_json(url: str, ca: str | None, user: str = "", password: str = "", timeout: float = 10.0):
    """(HTTP status, decoded JSON or None, error) of a GET; status None when nothing answered."""
    import base64
    import ssl
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if user:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    context = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read()), ""
    except urllib.error.HTTPError as exc:
        return exc.code, None, f"HTTP {exc.code} {exc.reason}"
    except (OSError, ValueError) as exc:
        return None, None, str(getattr(exc, "reason", exc))


def read_monitor(conn: dict, get=http_json) -> dict:
    """The monitor tier in force, from Prometheus's and Alertmanager's APIs: the active targets
    (job, host, health, scrape URL, last error), the alerting rules loaded (name, health), the
    flags Prometheus runs with (retention), the Alertmanagers it sends to, Alertmanager's
    receivers, and what a stranger without the password gets from each."""
    user, password, ca = conn.get("user", ""), conn.get("password", ""), conn.get("ca")
    out: dict = {"errors": []}

    def api(base: str, path: str):
        status, body, error = get(base.rstrip("/") + path, ca, user, password)
        if body is None:
            out["errors"].append(f"{base}{path}: {error or status}")
            return None
        return body.get("data", body) if isinstance(body, dict) and "status" in body else body

    prom, am = conn.get("prometheus_url"), conn.get("alertmanager_url")
    if prom:
        targets = api(prom, "/api/v1/targets?state=active") or {}
        out["targets"] = [{"job": t.get("labels", {}).get("job") or t.get("scrapePool"),
                           "host": t.get("labels", {}).get("host", ""),
                           "instance": t.get("labels", {}).get("instance", ""),
                           "health": t.get("health"), "scrape_url": t.get("scrapeUrl", ""),
                           "error": t.get("lastError", "")}
                          for t in targets.get("activeTargets", [])]
        rules = api(prom, "/api/v1/rules?type=alert") or {}
        out["rules"] = {r["name"]: r.get("health", "") for g in rules.get("groups", []) for r in g.get("rules", [])}
        out["flags"] = api(prom, "/api/v1/status/flags") or {}
        managers = api(prom, "/api/v1/alertmanagers") or {}
        out["alertmanagers"] = [m.get("url", "") for m in managers.get("activeAlertmanagers", [])]
        out["prometheus_anonymous"] = get(prom.rstrip("/") + "/api/v1/targets", ca, "", "")[0]
    if am:
        status = api(am, "/api/v2/status") or {}
        config = (status.get("config") or {}).get("original", "")
        out["alertmanager_receivers"] = sorted(set(_yaml_receiver_names(config)))
        out["alertmanager_anonymous"] = get(am.rstrip("/") + "/api/v2/status", ca, "", "")[0]
    return out


def _yaml_receiver_names(config: str) -> list[str]:
    """The receivers' names in Alertmanager's configuration as it prints it (no YAML parser on
    the host: its `- name:` lines under `receivers:`)."""
    names, inside = [], False
    for line in config.splitlines():
        if line[:1].isalpha():  # a top-level key (list items may start at column 0)
            inside = line.startswith("receivers:")
            continue
        stripped = line.strip()
        if inside and stripped.startswith("- name:"):
            names.append(stripped.split(":", 1)[1].strip().strip("'\""))
    return names
