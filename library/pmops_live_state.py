#!/usr/bin/python
"""Read a host's security state as it is in force, in one round trip, changing nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pmops_live_state
short_description: Read the security state in force on a host (effective sshd settings, loaded firewall, accounts, units, sockets)
description:
  - Reads, in one call, what C(pmops comply) compares with the policy on the controller
    (pmops/checks.py) - not the files Ansible would write, but what is in force.
  - "It reads C(sshd -T) for the automation account's connection, sshd_config's owner and mode and
    the host key files; the loaded nftables table as C(nft -j) prints it; every account with its
    password state (never the hash), expiry and groups, every authorized_keys line of every
    account and the files in /etc/sudoers.d; the load, active and enabled state of the named
    systemd units; the listening sockets with their processes."
  - Reads only. It never changes anything, so it runs the same in check mode and has no diff.
version_added: "0.1.0"
author: Power Marketing Ops
options:
  sshd:
    description:
      - The connection to evaluate C(sshd -T) for (C(user), C(host), C(addr)), so that Match
        blocks apply as they would to that login. Omit to skip sshd.
    type: dict
  sshd_users:
    description:
      - More logins to evaluate C(sshd -T) for (from host localhost, address 127.0.0.1), so that a Match block on
        their groups shows; only the authentication settings are kept. Needs O(sshd).
    type: list
    elements: str
    default: []
  listings:
    description:
      - Directories whose entries to list - name, owner, mode and time of each, never a content (a directory of
        secrets, for example).
    type: list
    elements: path
    default: []
  nftables_table:
    description: The nftables table to list, as C(family name) (for example C(inet pmops)). Omit to skip.
    type: str
  accounts:
    description: Read every account, group, authorized_keys file and sudoers.d file.
    type: bool
    default: false
  units:
    description: systemd units (services, timers, sockets) whose state to read.
    type: list
    elements: str
    default: []
  sockets:
    description: Read the listening TCP and UDP sockets with their processes.
    type: bool
    default: false
  files:
    description:
      - Files to read - owner, group, mode, type and, for a regular file of at most 64 KiB, the content.
      - Name only files that hold no secret; use O(stats) for the others.
    type: list
    elements: path
    default: []
  stats:
    description: Files whose owner, group, mode and type only are read (never the content).
    type: list
    elements: path
    default: []
  packages:
    description: Debian packages whose installed version to read (none when not installed).
    type: list
    elements: str
    default: []
  unit_properties:
    description: systemd units to the properties whose values in force to read (C(systemctl show -p)), e.g. a service's sandbox.
    type: dict
    default: {}
  env_files:
    description:
      - Environment files (KEY=value lines) to the keys whose values to read; every other line,
        a secret among them, is never read out.
    type: dict
    default: {}
  postgresql:
    description: Read PostgreSQL's client authentication rules as it parses them (C(pg_hba_file_rules)), its roles and its security settings, as the postgres account.
    type: bool
    default: false
  nginx:
    description: Read nginx's effective configuration (C(nginx -T)).
    type: bool
    default: false
  probes:
    description:
      - Fixed read-only probes, by name - C(login_shell) (umask and TMOUT of a login shell),
        C(sudoers_valid) (C(visudo -c)), C(setid_scan) (set-id and world-writable files on the root
        file system), C(chrony_sources) (C(chronyc -n sources)), C(root_path) (root's login PATH and
        the owner and mode of each of its directories), C(sudo_noauth) (sudoers lines with
        C(!authenticate)), C(chronyd_user) (the user chronyd runs as), C(apt_sources) (apt's sources, a legacy
        keyring, settings that let unsigned packages in), C(nft_tables) (C(nft list
        tables), then any iptables-legacy rule), C(wireless) (wireless interfaces and their driver modules), C(pam_version) (the
        PAM packages against version 1.5.2-6), C(log_scan) (files under /var/log a group or others
        may write or others read).
    type: list
    elements: str
    choices: [login_shell, sudoers_valid, setid_scan, chrony_sources, root_path, sudo_noauth, chronyd_user, nft_tables,
              wireless, pam_version, log_scan, apt_sources]
    default: []
  endpoints:
    description:
      - Ports of this host to probe as a stranger (C(GET /metrics) without a client certificate
        or a password), over TLS when O(endpoints[].tls) - the secure management path (MON-02).
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: What listens there (for the report)., type: str, required: true}
      port: {description: The port., type: int, required: true}
      host: {description: The address to connect to., type: str, default: 127.0.0.1}
      tls: {description: Speak TLS (without a client certificate)., type: bool, default: true}
  monitor:
    description:
      - The monitor tier's APIs to read (active targets, alerting rules, flags, Alertmanagers,
        receivers), with C(prometheus_url), C(alertmanager_url), C(ca), C(user) and C(password)
        (basic auth; never returned). Omit to skip.
    type: dict
attributes:
  check_mode:
    support: full
    details: It only reads, in check mode as outside it.
  diff_mode:
    support: none
    details: It never changes anything, so there is nothing to show a diff of.
"""

EXAMPLES = r"""
- name: Read the live state
  pmops_live_state:
    sshd: {user: pmops, host: localhost, addr: 127.0.0.1}
    nftables_table: inet pmops
    accounts: true
    units: [ssh.service, nftables.service, chrony.service]
    sockets: true
  register: live

- name: Who sshd asks for a second factor, and who is enrolled (names only)
  pmops_live_state:
    sshd: {user: pmops, host: localhost, addr: 127.0.0.1}
    sshd_users: [li.wei, zhang.min]
    listings: [/var/lib/pmops-otp]
    files: [/etc/pam.d/sshd, /etc/pam.d/pmops-otp]
  register: live
"""

RETURN = r"""
state:
  description: What is in force, by section; a section that was not asked for is absent.
  returned: always
  type: dict
  contains:
    container:
      description: The container technology the host runs in (C(podman), C(docker)...), or empty on a machine or VM.
      type: str
    sshd:
      description: >-
        C(effective) ({key: [values]} from sshd -T, or C(error)), C(config) (owner, group, mode of sshd_config),
        C(host_keys) (key types whose files exist), C(per_user) ({login: {authenticationmethods,
        kbdinteractiveauthentication}} for O(sshd_users)).
      type: dict
    nftables:
      description: "C(loaded) (whether the table exists), C(error), C(ruleset) (C(nft -j list table) output)."
      type: dict
    accounts:
      description: "C(accounts) ({name, uid, gid, home, shell, login_shell, password (none, locked, set), expires, changed, min, max, warn, inactive, groups}), C(groups), C(authorized_keys) ({account: [lines]}), C(sudoers_d) (file names), C(homes) ({account that can log in: {exists, type, owner, group, mode, dotfiles: {name: {type, owner, group, mode}}}})."
      type: dict
    units:
      description: "{unit: {load, active, sub, enabled}}"
      type: dict
    sockets:
      description: "[{proto, address, port, process}]"
      type: list
    files:
      description: "{path: {exists, type, owner, group, mode, mtime, content?}}"
      type: dict
    listings:
      description: "{directory: {name: {type, owner, group, mode, mtime}}, or null when the directory does not exist}"
      type: dict
    packages:
      description: "{name: version, or null when not installed}"
      type: dict
    probes:
      description: "{probe: {rc, out}}"
      type: dict
    unit_properties:
      description: "{unit: {property: value}}"
      type: dict
    env_files:
      description: "{path: {exists, values: {key: value}}}"
      type: dict
    postgresql:
      description: "{hba: [{type, database, user, address, netmask, method, error}], roles: [{name, superuser, login}], settings: {name: value}}, or {error}"
      type: dict
    nginx:
      description: "{rc, config}: the output of nginx -T (at most 256 KiB)"
      type: dict
    now:
      description: The host's clock (seconds since the epoch), to judge the files' C(mtime) against.
      type: float
    endpoints:
      description: "{name: {port, tls, status (HTTP status, or null when nothing answered), error}}"
      type: dict
    monitor:
      description: "{targets: [{job, host, instance, health, scrape_url, error}], rules: {alert: health}, flags, alertmanagers, alertmanager_receivers, prometheus_anonymous, alertmanager_anonymous (HTTP status to a stranger), errors}"
      type: dict
"""

import glob
import grp
import json
import os
import pwd
import stat as st_mod
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmops_live_state import (accounts, parse_ss, parse_sshd_t, parse_systemctl_show,
                                                   probe_anonymous, read_monitor)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


MAX_CONTENT = 64 * 1024
PROBES = {
    # `grep -c` exits 1 when it counts 0 (TMOUT not read-only): the count is the answer, so
    # `|| true` keeps the probe's exit status for a shell that could not start at all
    "login_shell": ["bash", "-lc", "umask; echo \"${TMOUT:-}\"; readonly -p | grep -c TMOUT || true"],
    "sudoers_valid": ["visudo", "-c"],
    "setid_scan": ["bash", "-c", "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run \\) -prune -o "
                   "\\( -type f -perm /6000 -printf 'setid %p\\n' \\) -o \\( -type f -perm -0002 -printf 'writable %p\\n' \\) "
                   "-o \\( -type d -perm -0002 ! -perm -1000 -printf 'unsticky %p\\n' \\)"],
    "chrony_sources": ["chronyc", "-n", "sources"],
    # root's login PATH, then each of its directories as 'owner mode path' (CIS 5.4.2.5)
    "root_path": ["bash", "-lc", "echo \"$PATH\"; IFS=:; for d in $PATH; do stat -Lc '%U %a %n' -- \"${d:-(empty)}\" 2>&1; done"],
    # any sudoers line that turns re-authentication off (CIS 5.2.5); grep exits 1 for none
    "sudo_noauth": ["grep", "-rEn", "^[^#]*!authenticate", "/etc/sudoers", "/etc/sudoers.d"],
    "chronyd_user": ["ps", "-C", "chronyd", "-o", "user="],
    # apt's sources as 'file:line' (comments left out), a legacy keyring, and any setting that
    # lets unsigned packages in (CIS 1.2.1.1-1.2.1.2)
    # (only the files apt reads: sources.list, *.list and *.sources under sources.list.d)
    "apt_sources": ["bash", "-c", "grep -rHEv '^[[:space:]]*(#|$)' --include='*.list' --include='*.sources' /etc/apt/sources.list "
                    "/etc/apt/sources.list.d/ 2>/dev/null; [ -s /etc/apt/trusted.gpg ] && echo 'legacy-keyring: /etc/apt/trusted.gpg'; "
                    "apt-config dump | grep -iE '(AllowUnauthenticated|AllowInsecureRepositories|AllowWeakRepositories|"
                    "AllowDowngradeToInsecureRepositories)' | grep -iE '\"(true|1|yes|on)\"' | sed 's/^/apt-config: /'; true"],
    # the nftables tables in force, then any iptables-legacy rule (CIS 4.2.3); legacy-save's
    # stderr (no legacy tables in this kernel) is no finding, and grep exits 1 for no rule
    "nft_tables": ["bash", "-c", "PATH=/usr/sbin:/sbin:$PATH; nft list tables || exit 2; "
                   "if command -v iptables-legacy-save >/dev/null; then iptables-legacy-save 2>/dev/null | grep '^-A' || true; fi"],
    # wireless interfaces as 'interface driver-module' (CIS 3.1.2); none prints nothing
    "wireless": ["bash", "-c", "for d in /sys/class/net/*/wireless; do [ -e \"$d\" ] || continue; i=${d%/wireless}; "
                 "m=$(readlink -f \"$i/device/driver/module\"); echo \"${i##*/} ${m##*/}\"; done"],
    # the PAM packages against the benchmark's minimum version (CIS 5.3.1.1)
    "pam_version": ["bash", "-c", "for p in libpam-runtime libpam-modules libpam-modules-bin; do "
                    "v=$(dpkg-query -W -f='${Version}' \"$p\" 2>/dev/null); if dpkg --compare-versions \"${v:-0}\" ge 1.5.2-6; "
                    "then echo \"ok $p $v\"; else echo \"old $p ${v:-none}\"; fi; done"],
    # log files a group or others may write, or others read (CIS 6.2.2.1, 6.2.1.1.2)
    "log_scan": ["find", "/var/log", "-type", "f", "-perm", "/0137", "-printf", "%m %u %g %p\\n"],
}


def _owner(path: str, content: bool = False) -> dict:
    try:
        st = os.lstat(path)
    except OSError:
        return {"exists": False}
    kind = "link" if st_mod.S_ISLNK(st.st_mode) else "directory" if st_mod.S_ISDIR(st.st_mode) else \
        "file" if st_mod.S_ISREG(st.st_mode) else "other"
    if kind == "link":
        target = os.readlink(path)
        try:
            st = os.stat(path)
        except OSError:
            return {"exists": False, "type": "link", "target": target}
    else:
        target = None
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    info = {"exists": True, "type": kind, "owner": user, "group": group, "mode": "%04o" % (st.st_mode & 0o7777),
            "mtime": int(st.st_mtime)}
    if target is not None:
        info["target"] = target
    if content and os.path.isfile(path) and st.st_size <= MAX_CONTENT:
        info["content"] = _read(path)
    return info


def _run(module, argv: list):
    """run_command, or (None, '', 'not installed') when the program is not there (a new host)."""
    path = module.get_bin_path(argv[0], opt_dirs=["/usr/sbin", "/sbin"])
    if path is None:
        return None, "", f"{argv[0]}: not installed"
    # no expansion of $VAR or ~ here: the probes are shell text for the host's own shell
    return module.run_command([path] + argv[1:], expand_user_and_vars=False)


PG_QUERY = """SELECT json_build_object(
 'hba', (SELECT json_agg(json_build_object('type', type, 'database', database, 'user', user_name, 'address', address,
                                           'netmask', netmask, 'method', auth_method, 'error', error) ORDER BY line_number)
         FROM pg_hba_file_rules),
 'roles', (SELECT json_agg(json_build_object('name', rolname, 'superuser', rolsuper, 'login', rolcanlogin) ORDER BY rolname)
           FROM pg_roles WHERE rolname !~ '^pg_'),
 'connections', (SELECT json_agg(json_build_object('user', a.usename, 'address', host(a.client_addr), 'ssl', s.ssl))
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                 WHERE a.backend_type = 'client backend' AND a.client_addr IS NOT NULL),
 'settings', (SELECT json_object_agg(name, setting) FROM pg_settings
              WHERE name IN ('ssl', 'password_encryption', 'ssl_min_protocol_version', 'log_connections',
                             'log_disconnections', 'listen_addresses')))"""


def read_postgresql(module) -> dict:
    if module.get_bin_path("psql") is None:
        return {"error": "psql: not installed"}
    rc, out, err = module.run_command(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c", PG_QUERY])
    if rc != 0:
        return {"error": (err or out).strip()[:500]}
    try:
        return json.loads(out)
    except ValueError as exc:
        return {"error": f"psql printed no JSON: {exc}"}


def read_unit_properties(module, wanted: dict) -> dict:
    found = {}
    for unit, props in sorted(wanted.items()):
        rc, out, err = module.run_command(["systemctl", "show", "-p", ",".join(props), "--", unit])
        found[unit] = dict(line.split("=", 1) for line in out.splitlines() if "=" in line) if rc == 0 else {}
    return found


def read_env(path: str, keys: list) -> dict:
    if not os.path.isfile(path):
        return {"exists": False}
    values = {}
    for line in _read(path).splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in keys:
            values[key] = value.strip().strip('"').strip("'")
    return {"exists": True, "values": values}


def read_packages(module, names: list) -> dict:
    rc, out, err = module.run_command(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev} ${Version}\\n"] + list(names))
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1].startswith("ii"):
            found[parts[0]] = parts[2]
    return {name: found.get(name) for name in names}


PER_USER_KEYS = ("authenticationmethods", "kbdinteractiveauthentication")


def read_sshd(module, conn: dict, users: list | None = None) -> dict:
    if module.get_bin_path("sshd", opt_dirs=["/usr/sbin"]) is None:
        return {"config": _owner("/etc/ssh/sshd_config"), "host_keys": [], "error": "sshd: not installed"}
    spec = ",".join(f"{k}={conn[k]}" for k in ("user", "host", "addr") if conn.get(k))
    rc, out, err = module.run_command(["/usr/sbin/sshd", "-T", "-C", spec] if spec else ["/usr/sbin/sshd", "-T"])
    section = {"config": _owner("/etc/ssh/sshd_config"),
               "host_keys": sorted(os.path.basename(p)[len("ssh_host_"):-len("_key")]
                                   for p in glob.glob("/etc/ssh/ssh_host_*_key"))}
    if rc == 0:
        section["effective"] = parse_sshd_t(out)
    else:
        section["error"] = (err or out).strip()[:500]
    if users:
        section["per_user"] = {}
        for user in users:
            rc, out, err = module.run_command(["/usr/sbin/sshd", "-T", "-C", f"user={user},host=localhost,addr=127.0.0.1"])
            effective = parse_sshd_t(out) if rc == 0 else {}
            section["per_user"][user] = {key: " ".join(effective.get(key, [])) for key in PER_USER_KEYS}
    return section


def read_listing(path: str) -> dict | None:
    if not os.path.isdir(path):
        return None
    return {name: _owner(os.path.join(path, name)) for name in sorted(os.listdir(path))}


def read_nftables(module, table: str) -> dict:
    # on a new host nftables is not installed yet (check mode of a first converge): not loaded
    rc, out, err = _run(module, ["nft", "-j", "list", "table"] + table.split())
    if rc != 0:
        return {"loaded": False, "error": (err or out).strip()[:300]}
    try:
        return {"loaded": True, "ruleset": json.loads(out).get("nftables", [])}
    except ValueError as exc:
        return {"loaded": True, "error": f"nft -j printed no JSON: {exc}"}


def read_accounts() -> dict:
    section = accounts(_read("/etc/passwd"), _read("/etc/shadow"), _read("/etc/group"))
    keys = {}
    for name, acc in sorted(section["accounts"].items()):
        path = os.path.join(acc["home"] or "/nonexistent", ".ssh", "authorized_keys")
        if os.path.isfile(path):
            keys[name] = [line.strip() for line in _read(path).splitlines()
                          if line.strip() and not line.lstrip().startswith("#")]
    section["authorized_keys"] = keys
    # CIS 7.2.9-7.2.10: the home of every interactive account (its shell is one of
    # /etc/shells: not sync's /bin/sync), and the dot files in it
    shells = {line.strip() for line in _read("/etc/shells").splitlines() if line.strip().startswith("/")}
    homes = {}
    for name, acc in sorted(section["accounts"].items()):
        if not acc["login_shell"] or acc["shell"] not in shells or not acc["home"]:
            continue
        home = _owner(acc["home"])
        if home.get("type") == "directory":
            try:
                entries = sorted(os.listdir(acc["home"]))
            except OSError:
                entries = []
            home["dotfiles"] = {e: _owner(os.path.join(acc["home"], e)) for e in entries if e.startswith(".")}
        homes[name] = home
    section["homes"] = homes
    section["sudoers_d"] = sorted(os.listdir("/etc/sudoers.d")) if os.path.isdir("/etc/sudoers.d") else []
    return section


def read_units(module, units: list) -> dict:
    if not units:
        return {}
    rc, out, err = module.run_command(["systemctl", "show", "--property=Id,LoadState,ActiveState,SubState,UnitFileState,TimersCalendar",
                                       "--"] + list(units))
    if rc != 0:
        module.fail_json(msg=f"systemctl show failed: {(err or out).strip()}")
    found = parse_systemctl_show(out)
    # systemctl show prints a block per unit in the order asked; a unit it cannot find is
    # still listed (LoadState=not-found), so every asked unit has an answer
    return {unit: found.get(unit, {"load": "not-found", "active": "inactive", "sub": "dead", "enabled": ""})
            for unit in units}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sshd=dict(type="dict"),
            sshd_users=dict(type="list", elements="str", default=[]),
            listings=dict(type="list", elements="path", default=[]),
            nftables_table=dict(type="str"),
            accounts=dict(type="bool", default=False),
            units=dict(type="list", elements="str", default=[]),
            sockets=dict(type="bool", default=False),
            files=dict(type="list", elements="path", default=[]),
            stats=dict(type="list", elements="path", default=[]),
            packages=dict(type="list", elements="str", default=[]),
            probes=dict(type="list", elements="str", default=[], choices=sorted(PROBES)),
            unit_properties=dict(type="dict", default={}),
            postgresql=dict(type="bool", default=False),
            env_files=dict(type="dict", default={}),
            nginx=dict(type="bool", default=False),
            endpoints=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True), port=dict(type="int", required=True),
                host=dict(type="str", default="127.0.0.1"), tls=dict(type="bool", default=True))),
            monitor=dict(type="dict", options=dict(
                prometheus_url=dict(type="str"), alertmanager_url=dict(type="str"), ca=dict(type="path"),
                user=dict(type="str", default=""), password=dict(type="str", default="", no_log=True))),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # a container (podman, docker, lxc...) cannot hold kernel-level state: checks say so
    rc, out, err = _run(module, ["systemd-detect-virt", "--container"])
    state = {"container": out.strip() if rc == 0 else "", "now": time.time()}
    if p["sshd"] is not None:
        state["sshd"] = read_sshd(module, p["sshd"], p["sshd_users"])
    if p["nftables_table"]:
        if len(p["nftables_table"].split()) != 2:
            module.fail_json(msg=f"nftables_table must be 'FAMILY NAME' (for example 'inet pmops'), got {p['nftables_table']!r}")
        state["nftables"] = read_nftables(module, p["nftables_table"])
    if p["accounts"]:
        state["accounts"] = read_accounts()
    if p["units"]:
        state["units"] = read_units(module, p["units"])
    if p["sockets"]:
        rc, out, err = module.run_command(["ss", "-Htulnp"])
        if rc != 0:
            module.fail_json(msg=f"ss failed: {(err or out).strip()}")
        state["sockets"] = parse_ss(out)
    if p["files"] or p["stats"]:
        state["files"] = {path: _owner(path) for path in p["stats"]}
        state["files"].update({path: _owner(path, content=True) for path in p["files"]})
    if p["listings"]:
        state["listings"] = {path: read_listing(path) for path in p["listings"]}
    if p["packages"]:
        state["packages"] = read_packages(module, p["packages"])
    if p["unit_properties"]:
        state["unit_properties"] = read_unit_properties(module, p["unit_properties"])
    if p["env_files"]:
        state["env_files"] = {path: read_env(path, keys) for path, keys in sorted(p["env_files"].items())}
    if p["postgresql"]:
        state["postgresql"] = read_postgresql(module)
    if p["nginx"]:
        rc, out, err = _run(module, ["nginx", "-T"])
        state["nginx"] = {"rc": rc, "config": out[:4 * MAX_CONTENT], "error": err.strip()[-500:] if rc else ""}
    if p["probes"]:
        state["probes"] = {}
        for name in p["probes"]:
            rc, out, err = _run(module, PROBES[name])
            state["probes"][name] = {"rc": rc, "out": (out + err)[-MAX_CONTENT:]}
    if p["endpoints"]:
        state["endpoints"] = {e["name"]: dict(probe_anonymous(e["host"], e["port"], e["tls"]), port=e["port"], tls=e["tls"])
                              for e in p["endpoints"]}
    if p["monitor"]:
        state["monitor"] = read_monitor(p["monitor"])
    module.exit_json(changed=False, state=state)


if __name__ == "__main__":
    main()
