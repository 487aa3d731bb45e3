"""Control checks on the controller: the state in force against the policy.

`pmops comply` reads, in one round trip per host, what is in force (the pmops_live_state
module: `sshd -T`, the loaded nftables table, every account, key and sudoers file, PostgreSQL's
pg_hba_file_rules, roles and settings, `nginx -T`, unit states and properties, listening
sockets, the files the roles write, /proc/sys and a few fixed probes) and what the roles say
it must be (their `wanted` entry points: ssh_wanted, firewall_wanted, access_wanted,
hardening_wanted, ...). The functions here compare the two. They are pure: no host, no
Ansible, so every verdict is unit-tested (tests/unit/test_checks.py) with the state a real
host printed. The same functions reach the roles as filters (filter_plugins/pmops_checks.py),
so a converge heals by the judgement comply reports with.

Each check returns {control id: [problems]}: an empty list is a pass, and every problem is a
line of evidence that names what is extra, missing or different. A check whose inputs are
missing (the role does not apply, the section was not read) returns nothing for its controls,
and the other evidence (check mode, testinfra) decides them.

Layer: library (imports no engine and no command; it runs inside Ansible too). pmops.controls
joins its verdicts with the rest of a control's evidence.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
import time
from collections import defaultdict
from typing import Callable, Iterable

Problems = dict[str, list[str]]
CHECKS: list[tuple[tuple[str, ...], bool, Callable[[dict, dict], Problems]]] = []

# Groups whose members can read or change what only administrators may: a member who is not
# root, the automation account or a person of the access matrix is drift.
PRIVILEGED_GROUPS = frozenset({"root", "sudo", "adm", "shadow", "disk", "wheel", "staff", "systemd-journal"})
# The first UID useradd gives a person (login.defs UID_MIN); below it are the system's own.
UID_MIN = 1000


def check(*ids: str, complete: bool = True):
    """Register a check for these control ids. A complete check decides its controls on every
    host its role applies to; a partial one (complete=False) only on some, and the control's
    testinfra test still runs."""
    def register(func):
        CHECKS.append((ids, complete, func))
        return func
    return register


def controls_checked() -> set[str]:
    """The controls whose verdict comes from the state in force alone."""
    return {cid for ids, complete, _ in CHECKS if complete for cid in ids}


# ------------------------------------------------------------------ sshd
@check("SSH-01", "SSH-02", "SSH-03", "SSH-04", "SSH-05", "SSH-06", "SSH-07", "SSH-08", "SSH-09", "SSH-11")
def sshd(wanted: dict, live: dict) -> Problems:
    want, state = wanted.get("ssh_wanted"), live.get("sshd")
    if not want or not state:
        return {}
    controls = sorted({s["control"] for s in want.get("settings", [])} | ({"SSH-04"} if want.get("host_key_types") else set()))
    problems: Problems = {cid: [] for cid in controls}
    if "error" in state:
        for cid in controls:
            if cid != "SSH-09":
                problems[cid].append(f"sshd -T failed, so no setting is in force as wanted: {state['error']}")
    effective = state.get("effective", {})
    config = state.get("config", {})
    for setting in want.get("settings", []):
        key, cid = setting["key"], setting["control"]
        if key == "sshd_config owner and mode":
            value = f"{config.get('owner', '')} {config.get('mode', '')}" if config.get("exists") else "(missing)"
        elif "error" in state:
            continue
        else:
            value = " ".join(effective.get(key, []))
        if str(value) != str(setting["want"]):
            problems[cid].append(f"{key}: effective {value or '(unset)'}, wanted {setting['want'] or '(unset)'}")
    banner = want.get("banner_text")
    if banner and "SSH-08" in problems and "files" in live:
        # CIS 1.6.3: the text shown before an SSH login names no system
        problems["SSH-08"] += banner_problems(live, "/etc/issue.net", banner)
    types = want.get("host_key_types")
    if types:
        have, need = set(state.get("host_keys", [])), set(types)
        if have != need:
            problems["SSH-04"].append(f"host key files: {_delta(have, need)}")
    return problems


# ------------------------------------------------------------------ nftables
def _value(node) -> str:
    """One side of an nft JSON expression as nft would print it."""
    if isinstance(node, dict):
        if "payload" in node:
            return f"{node['payload'].get('protocol', '')} {node['payload'].get('field', '')}".strip()
        if "meta" in node:
            return f"meta {node['meta'].get('key', '')}"
        if "ct" in node:
            return f"ct {node['ct'].get('key', '')}"
        if "prefix" in node:
            return f"{node['prefix']['addr']}/{node['prefix']['len']}"
        if "range" in node:
            return "-".join(_value(v) for v in node["range"])
        if "set" in node:
            return "{ " + ", ".join(sorted(_value(v) for v in node["set"])) + " }"
        return " ".join(f"{k} {_value(v)}" for k, v in sorted(node.items()))
    if isinstance(node, list):
        return ",".join(sorted(_value(v) for v in node))
    return str(node)


def _statement(expr: dict) -> str:
    (kind, body), = expr.items()
    if kind == "match":
        left = _value(body["left"])
        # meta l4proto, iifname and friends print without "meta" in nft's own syntax
        left = left.replace("meta iif", "iif").replace("meta l4proto", "meta l4proto")
        op = body.get("op", "==")
        return f"{left} {_value(body['right'])}" if op in ("==", "in") else f"{left} {op} {_value(body['right'])}"
    if kind in ("accept", "drop", "reject", "return"):
        return kind
    if kind == "counter":
        return ""  # counters change by themselves; they are no part of the policy
    if kind == "limit":
        return f"limit rate {body.get('rate')}/{body.get('per')}"
    if kind == "log":
        return f"log prefix \"{body.get('prefix', '')}\" level {body.get('level', 'warn')}"
    return f"{kind} {_value(body)}"


def nft_rules(ruleset: list[dict]) -> dict[str, list[str]]:
    """`nft -j list table` output to {chain: ["policy drop", rule, ...]}: each rule as one
    line of its statements (counters and handles left out, sets sorted), comment last."""
    chains: dict[str, list[str]] = {}
    sets: dict[str, list[str]] = {}
    for entry in ruleset:
        if "chain" in entry:
            chain = entry["chain"]
            head = f"hook {chain.get('hook')} policy {chain.get('policy')}" if chain.get("hook") else "regular"
            chains.setdefault(chain["name"], []).insert(0, head)
        elif "set" in entry:
            s = entry["set"]
            sets[s["name"]] = sorted(_value(e) for e in s.get("elem", []))
        elif "rule" in entry:
            rule = entry["rule"]
            words = [w for w in (_statement(e) for e in rule.get("expr", [])) if w]
            line = " ".join(words)
            if rule.get("comment"):
                line += f" comment \"{rule['comment']}\""
            chains.setdefault(rule["chain"], []).append(line)
    for name, elements in sets.items():
        chains.setdefault("sets", []).append(f"set {name} = {{ {', '.join(elements)} }}")
    return chains


def wanted_nft_rules(want: dict) -> dict[str, list[str]]:
    """The same lines as nft_rules() for the rule set roles/firewall/templates/nftables.conf.j2
    renders from firewall_wanted (keep the two in step)."""
    v4 = sorted(s for s in want["ssh_sources"] if ":" not in s)
    v6 = sorted(s for s in want["ssh_sources"] if ":" in s)
    ssh, canary = want["ssh_port"], want["canary_port"]
    lines = ["hook input policy drop",
             "ct state established,related accept",
             "ct state invalid drop",
             "iif lo accept",
             # loopback addresses only on lo (CIS 4.2.6)
             "iif != lo ip saddr 127.0.0.0/8 drop",
             "iif != lo ip6 saddr ::1 drop"]
    if want.get("icmp", True):
        lines += ["meta l4proto icmp limit rate 50/second accept", "meta l4proto ipv6-icmp accept"]
    lines += [f"tcp dport {ssh} ip saddr @ssh_from_v4 accept comment \"ssh: admin networks and control node\"",
              f"tcp dport {ssh} ip6 saddr @ssh_from_v6 accept comment \"ssh: admin networks and control node\"",
              f"tcp dport {canary} ip saddr @ssh_from_v4 accept comment \"ssh canary during a change\""]
    for rule in want["rules"]:
        port = str(rule["port"])
        comment = f" comment \"{rule['comment']}\""
        if rule.get("sources") is None:
            lines.append(f"{rule['proto']} dport {port} accept{comment}")
            continue
        for family, addrs in (("ip", [s for s in rule["sources"] if ":" not in s]),
                              ("ip6", [s for s in rule["sources"] if ":" in s])):
            if addrs:
                shown = _value({"set": addrs}) if len(addrs) > 1 else addrs[0]
                lines.append(f"{rule['proto']} dport {port} {family} saddr {shown} accept{comment}")
    if want.get("log_prefix"):
        lines.append(f"limit rate 5/minute log prefix \"{want['log_prefix']}\" level info")
    return {"input": lines,
            "forward": [f"hook forward policy {want.get('forward_policy', 'drop')}"],
            "output": ["hook output policy accept"],
            "sets": [f"set ssh_from_v4 = {{ {', '.join(v4)} }}", f"set ssh_from_v6 = {{ {', '.join(v6)} }}"]}


@check("NET-01")
def nftables(wanted: dict, live: dict) -> Problems:
    want, state = wanted.get("firewall_wanted"), live.get("nftables")
    if not want or state is None:
        return {}
    if not state.get("loaded"):
        return {"NET-01": [f"the rule set is not loaded (table {want['table']}): {state.get('error') or 'no table'}"]}
    if "error" in state:
        return {"NET-01": [f"the loaded rule set could not be read: {state['error']}"]}
    have, need = nft_rules(state.get("ruleset", [])), wanted_nft_rules(want)
    problems = []
    for chain in sorted(set(have) | set(need)):
        extra = _multiset_minus(have.get(chain, []), need.get(chain, []))
        missing = _multiset_minus(need.get(chain, []), have.get(chain, []))
        problems += [f"{chain}: loaded but not in the policy: {line}" for line in extra]
        problems += [f"{chain}: in the policy but not loaded: {line}" for line in missing]
        if not extra and not missing and have.get(chain) != need.get(chain) and chain != "sets":
            problems.append(f"{chain}: the rules are loaded in another order than the policy's")
    return {"NET-01": problems}


@check("NET-03")
def other_firewalls(wanted: dict, live: dict) -> Problems:
    """No packet filter beside the policy's table (CIS 4.2.3): no other nftables table (an
    iptables-nft rule lives in one), and no iptables-legacy rule. Checked only: the firewall
    role replaces its own table and never deletes another program's."""
    want = wanted.get("firewall_wanted")
    if not want or "probes" not in live or "nft_tables" not in live["probes"]:
        return {}
    probe = _probe(live, "nft_tables")
    if probe["rc"] != 0:
        return {"NET-03": [f"the tables in force cannot be read: {probe['out'].strip()[-200:] or 'bash is not installed'}"]}
    ours = " ".join(["table", *want["table"].split()])
    problems = [f"{line.strip()}: a table beside the policy's ({ours})" for line in probe["out"].splitlines()
                if line.startswith("table ") and " ".join(line.split()) != ours]
    problems += [f"iptables-legacy rule: {line.strip()}" for line in probe["out"].splitlines() if line.startswith("-A ")]
    return {"NET-03": problems}


# ------------------------------------------------------------------ accounts
def _key_blob(line: str) -> str | None:
    parts = line.split()
    for index, part in enumerate(parts[:-1]):
        if part.startswith(("ssh-", "ecdsa-", "sk-")):
            return parts[index + 1]
    return None


def _key_name(line: str) -> str:
    parts = line.split()
    blob = _key_blob(line) or ""
    comment = " ".join(parts[parts.index(blob) + 1:]) if blob in parts else ""
    return f"...{blob[-12:]} {comment}".strip()


@check("ACC-01", "ACC-02", "ACC-03", "ACC-04", "ACC-05", "ACC-06")
def access(wanted: dict, live: dict) -> Problems:
    want, state = wanted.get("access_wanted"), live.get("accounts")
    if not want or not state:
        return {}
    accounts, keys = state["accounts"], state.get("authorized_keys", {})
    people = {p["login"]: p for p in want["people"]}
    automation = want["automation_user"]
    problems: Problems = {cid: [] for cid in ("ACC-01", "ACC-02", "ACC-04", "ACC-05", "ACC-06")}
    for login, person in sorted(people.items()):
        acc = accounts.get(login)
        if acc is None:
            problems["ACC-01"].append(f"{login}: no account, but the matrix lets them onto this host")
            continue
        if acc["uid"] != int(person["uid"]):
            problems["ACC-01"].append(f"{login}: uid {acc['uid']}, the matrix says {person['uid']}")
        groups = set(acc["groups"][1:])
        if groups != set(person["groups"]):
            problems["ACC-01"].append(f"{login}: groups {_delta(groups, set(person['groups']))}")
        if not acc["login_shell"]:
            problems["ACC-01"].append(f"{login}: shell {acc['shell']} does not let them log in")
        have = {_key_blob(k): k for k in keys.get(login, []) if _key_blob(k)}
        need = {_key_blob(k): k for k in person.get("keys", []) if _key_blob(k)}
        problems["ACC-02"] += [f"{login}: key not installed: {_key_name(need[b])}" for b in sorted(set(need) - set(have))]
        problems["ACC-04"] += [f"{login}: key the matrix does not name: {_key_name(have[b])}"
                               for b in sorted(set(have) - set(need))]
    problems["ACC-03"] = []
    for name, rules in sorted((want.get("sudoers_rules") or {}).items()):
        path = f"/etc/sudoers.d/{name}"
        if "files" in live:
            problems["ACC-03"] += _owner_mode(live, path, "root", None, "0440")
            have = _lines(_content(live, path))
            if _file(live, path).get("exists") and have != [" ".join(r.split()) for r in rules]:
                problems["ACC-03"].append(f"{path}: {' | '.join(have) or '(empty)'}; wanted {' | '.join(rules)}")
    for name in sorted(set(state.get("sudoers_d", [])) - set(want["sudoers"])):
        problems["ACC-04"].append(f"/etc/sudoers.d/{name}: a sudoers file the matrix does not name")
    for login in sorted(want["revoked"]):
        acc = accounts.get(login)
        if acc is None:
            continue
        if acc["login_shell"] or not expired(acc):
            problems["ACC-05"].append(f"{login}: access revoked, but the account is not locked "
                                      f"(shell {acc['shell']}, password {acc['password']}, expires {acc.get('expires')})")
        if keys.get(login):
            problems["ACC-05"].append(f"{login}: access revoked, but {len(keys[login])} authorized key(s) remain")
        if acc["groups"][1:]:
            problems["ACC-05"].append(f"{login}: access revoked, but still in {', '.join(acc['groups'][1:])}")
    # accounts another role owns and checks (backup_wanted: the repository's SFTP accounts)
    owned = {name for key, value in wanted.items() if key != "access_wanted" and isinstance(value, dict)
             for name in (value.get("accounts") or {})}
    known = set(people) | {"root", automation} | owned
    for name, acc in sorted(accounts.items()):
        if name in known:
            continue
        if name in want["revoked"]:
            continue  # ACC-05 above
        reasons = unknown_account_reasons(acc, bool(keys.get(name)))
        if reasons:
            problems["ACC-06"].append(f"{name} (uid {acc['uid']}): {', '.join(reasons)}; "
                                      "neither a system account, the automation account nor a person of the matrix")
        elif keys.get(name):
            problems["ACC-04"].append(f"{name}: {len(keys[name])} authorized key(s), but the matrix names no keys for it")
    problems["ACC-06"] += [f"{name} (uid {accounts[name]['uid']}): a system account with the login shell "
                           f"{accounts[name]['shell']}" for name in system_login_shells(live, automation)]
    return problems


# Accounts below UID_MIN that keep a shell by design (CIS 5.4.2.7's own exceptions).
SYSTEM_SHELLS_ALLOWED = frozenset({"root", "sync", "shutdown", "halt"})


def system_login_shells(live: dict, automation: str) -> list[str]:
    """System accounts (uid below UID_MIN) with a shell that lets one log in (CIS 5.4.2.7):
    the access role gives them /usr/sbin/nologin (a service still starts; sudo -u and
    runuser still run its commands). Never the automation account, whatever its uid: without
    its shell nothing could converge this host again."""
    accounts = (live.get("accounts") or {}).get("accounts") or {}
    return sorted(name for name, acc in accounts.items()
                  if acc["uid"] < UID_MIN and acc["login_shell"] and name not in SYSTEM_SHELLS_ALLOWED | {automation})


def expired(acc: dict) -> bool:
    """Locked the way a revocation locks: expired on day 0 or 1 (pam_unix refuses every login)."""
    return acc.get("expires") in (0, 1)


@check("ACC-07")
def account_databases_check(wanted: dict, live: dict) -> Problems:
    state = live.get("accounts")
    if not wanted.get("access_wanted") or not state or "databases" not in state:
        return {}
    return {"ACC-07": account_databases(state) + homes(state)}


# Dot files that hand a login to someone else or keep a password (CIS 7.2.10).
FORBIDDEN_DOTFILES = (".forward", ".rhosts", ".netrc")


def _interactive_homes(state: dict) -> list[tuple[str, dict]]:
    """The homes of root and the accounts from UID_MIN up with a shell: a system account with
    one is ACC-06's drift (CIS 5.4.2.7) and loses the shell, so its home is not judged too."""
    accounts = state.get("accounts") or {}
    return [(name, home) for name, home in sorted((state.get("homes") or {}).items())
            if name == "root" or accounts.get(name, {}).get("uid", 0) >= UID_MIN]


def _home_findings(state: dict) -> list[tuple[str, str, str, str]]:
    """What is wrong with the homes of interactive accounts (CIS 7.2.9-7.2.10, ANSSI BP-028's
    0700), as (kind, login, path, problem): kind `missing` (left for a person: its files are
    elsewhere), `home` (not its account's, or open to others), `remove` (.forward, .rhosts or
    .netrc), `close` (a dot file the group or others may write). Root's home is held to the same."""
    found = []
    for name, home in _interactive_homes(state):
        where = state["accounts"].get(name, {}).get("home") or "?"
        if home.get("type") != "directory":  # also a missing one: _owner() gives it no type
            found.append(("missing", name, where, f"{name}: home {where} does not exist"))
            continue
        if home.get("owner") != name:
            found.append(("home", name, where, f"{name}: home {where} is owned by {home.get('owner')}"))
        if int(home.get("mode", "0"), 8) & 0o077:
            found.append(("home", name, where, f"{name}: home {where} is mode {home.get('mode')}, wanted 0700"))
        for dot, info in sorted((home.get("dotfiles") or {}).items()):
            if dot in FORBIDDEN_DOTFILES:
                found.append(("remove", name, f"{where}/{dot}", f"{name}: {where}/{dot} exists"))
            elif info.get("type") == "file" and int(info.get("mode", "0"), 8) & 0o022:
                found.append(("close", name, f"{where}/{dot}",
                              f"{name}: {where}/{dot} is mode {info.get('mode')}, writable by its group or others"))
    return found


def home_fixes(state: dict) -> dict[str, list]:
    """What the access role puts right of homes() (ACC-07): `homes` [{login, path}] to make
    their account's and 0700, `remove` the forbidden dot files, `close` the dot files others
    or the group may write."""
    found = _home_findings(state)
    homes_ = {(name, path) for kind, name, path, _ in found if kind == "home"}
    return {"homes": [{"login": name, "path": path} for name, path in sorted(homes_)],
            "remove": [path for kind, _, path, _ in found if kind == "remove"],
            "close": [path for kind, _, path, _ in found if kind == "close"]}


def homes(state: dict) -> list[str]:
    """ACC-07's findings on homes (see _home_findings)."""
    return [problem for *_, problem in _home_findings(state)]


def account_databases(state: dict) -> list[str]:
    """What is wrong with the account databases (CIS 7.2.1-7.2.8, 5.4.2.2-5.4.2.3; GB/T 22239
    8.1.4.1 a): every identity unique): from pmops_live_state's accounts section, names and ids
    only."""
    users, groups = state["databases"]["passwd"], state["databases"]["group"]
    problems = [f"{name}: password field in /etc/passwd, not shadowed" for name, _, _, shadowed in users if not shadowed]
    problems += [f"{name}: empty password: logs in with none" for name, acc in sorted(state["accounts"].items())
                 if acc.get("password") == "none"]

    def repeated(pairs: Iterable[tuple[str, object]], say: Callable[[object, list[str]], str]) -> list[str]:
        seen: dict[object, list[str]] = defaultdict(list)
        for name, key in pairs:
            seen[key].append(name)
        return [say(key, names) for key, names in seen.items() if len(names) > 1]

    problems += repeated(((n, n) for n, *_ in users), lambda n, names: f"user {n} is listed {len(names)} times")
    problems += repeated(((n, uid) for n, uid, *_ in users), lambda uid, names: f"uid {uid} shared by {', '.join(names)}")
    problems += repeated(((n, n) for n, *_ in groups), lambda n, names: f"group {n} is listed {len(names)} times")
    problems += repeated(((n, gid) for n, gid, _ in groups), lambda gid, names: f"gid {gid} shared by {', '.join(names)}")
    gids = {gid for _, gid, _ in groups}
    problems += [f"{name}: primary group {gid} is not in /etc/group" for name, _, gid, _ in users if gid not in gids]
    shadow_gids = {gid for n, gid, _ in groups if n == "shadow"}
    problems += [f"group shadow has members: {', '.join(m)}" for n, _, m in groups if n == "shadow" and m]
    problems += [f"{name}: primary group is shadow" for name, _, gid, _ in users if gid in shadow_gids]
    problems += [f"{name}: primary group 0 (root's)" for name, _, gid, _ in users if gid == 0 and name != "root"]
    problems += [f"group {name} has gid 0" for name, gid, _ in groups if gid == 0 and name != "root"]
    return problems


def unknown_accounts(wanted: dict, live: dict) -> list[str]:
    """The accounts a converge must lock: ACC-06's drift (for the access role)."""
    want, state = wanted.get("access_wanted"), live.get("accounts")
    if not want or not state:
        return []
    known = {p["login"] for p in want["people"]} | {"root", want["automation_user"]} | set(want["revoked"])
    keys = state.get("authorized_keys", {})
    return sorted(name for name, acc in state["accounts"].items()
                  if name not in known and unknown_account_reasons(acc, bool(keys.get(name))))


def unknown_account_reasons(acc: dict, has_keys: bool = False) -> list[str]:
    """Why an account that is not root, the automation account or a person would be drift.

    A system account (uid below UID_MIN) may keep the shell its package gave it (postgres:
    /bin/bash, sync: /bin/sync), because nobody can log in to it: no password, no key. Above
    UID_MIN a login shell alone is drift. Any account with a password that works, an empty
    password, uid 0 or a privileged group is drift, unless it is locked as a revocation locks
    it (expired: pam_unix refuses it, whatever its uid; the access role does this to drift,
    deleting nothing). A locked duplicate of uid 0 stays for an administrator to remove.
    """
    if expired(acc):
        return []  # locked as a revocation locks it: nobody can log in to it
    reasons = []
    if acc["uid"] == 0:
        reasons.append("uid 0")
    if acc["login_shell"] and (acc["uid"] >= UID_MIN or acc["password"] != "locked" or has_keys):
        reasons.append(f"login shell {acc['shell']}" + (" and authorized keys" if has_keys else ""))
    if acc["password"] in ("set", "none"):
        reasons.append("no password needed" if acc["password"] == "none" else "a usable password")
    privileged = sorted(set(acc["groups"]) & PRIVILEGED_GROUPS)
    if privileged:
        reasons.append(f"in {', '.join(privileged)}")
    return reasons


@check("BKP-02")
def backup_accounts(wanted: dict, live: dict) -> Problems:
    want, state = wanted.get("backup_wanted"), live.get("accounts")
    if not want or not state:
        return {}
    if not want.get("accounts"):
        return {"BKP-02": [NOT_APPLICABLE, f"the repository's accounts are checked on {want.get('repository_host')}"]}
    accounts, keys = state["accounts"], state.get("authorized_keys", {})
    problems = []
    for name, spec in sorted(want["accounts"].items()):
        acc = accounts.get(name)
        if acc is None:
            problems.append(f"{name}: no account")
            continue
        if acc["login_shell"] or acc["password"] != "locked":
            problems.append(f"{name}: shell {acc['shell']}, password {acc['password']}: not SFTP-only")
        lines = keys.get(name, [])
        if len(lines) > 1:
            problems.append(f"{name}: {len(lines)} keys, wanted one")
        for line in lines:
            options = line.split()[0] if not line.startswith(("ssh-", "ecdsa-", "sk-")) else ""
            if "restrict" not in options.split(",") or f'from="{spec["from"]}"' not in options.split(","):
                problems.append(f"{name}: key {_key_name(line)} is not restricted to from=\"{spec['from']}\"")
    members = sorted(n for n, a in accounts.items() if want["group"] in a["groups"] and n not in want["accounts"])
    problems += [f"{n}: in {want['group']}, but not an account of a backup client" for n in members]
    return {"BKP-02": problems}


TWO_FACTOR = "publickey,keyboard-interactive:pam"


@check("ACC-08")
def two_factor(wanted: dict, live: dict) -> Problems:
    """Administrators (people with sudo rights here) log in with key and code, everyone else and
    the automation account with a key alone (GB/T 22239 8.1.4.1 d): from sshd -T per login, the
    group, sshd's PAM service and the second factor's stack as they are; each administrator's
    enrolment is evidence (a name and a date, never the secret)."""
    tf = (wanted.get("ssh_wanted") or {}).get("two_factor")
    access, sshd = wanted.get("access_wanted"), live.get("sshd") or {}
    if not tf or not access or "effective" not in sshd or "accounts" not in live:
        return {}
    problems: list[str] = []
    accounts = live["accounts"]["accounts"]
    automation = access["automation_user"]
    if tf["group"] in (accounts.get(automation) or {}).get("groups", []):
        problems.append(f"{automation} (the automation account) is in {tf['group']}: no playbook can answer a code")
    methods = " ".join(sshd["effective"].get("authenticationmethods", ["any"]))
    if methods != "any":
        problems.append(f"{automation}: sshd asks {methods}, wanted its key alone (any)")
    per_user = sshd.get("per_user") or {}
    admins = sorted(p["login"] for p in access["people"] if p.get("two_factor"))
    for person in sorted(access["people"], key=lambda p: p["login"]):
        want = TWO_FACTOR if person.get("two_factor") else "any"
        got = (per_user.get(person["login"]) or {}).get("authenticationmethods") or "nothing (not read)"
        if got != want:
            problems.append(f"{person['login']}: sshd asks {got}, wanted {want}"
                            + (" (sudo rights here: key, then a one-time code)" if want == TWO_FACTOR else ""))
    canary = (per_user.get(tf["canary"]) or {}).get("authenticationmethods")
    if canary != TWO_FACTOR:
        problems.append(f"{tf['canary']} (the two-factor canary): sshd asks {canary or 'nothing'}, wanted {TWO_FACTOR}")
    includes = [" ".join(line.split()) for line in _lines(_content(live, "/etc/pam.d/sshd")) if line.startswith("@include")]
    if tf["include"] not in includes or "@include common-auth" not in includes \
            or includes.index(tf["include"]) > includes.index("@include common-auth"):
        problems.append(f"/etc/pam.d/sshd: '{tf['include']}' is not before '@include common-auth' "
                        f"(includes: {', '.join(includes) or 'none'})")
    have = [line for line in _lines(_content(live, tf["pam_file"])) if not line.startswith("#")]
    need = [" ".join(line.split()) for line in tf["pam_lines"]]
    if _content(live, tf["pam_file"]) is None:
        problems.append(f"{tf['pam_file']}: missing")
    elif have != need:
        problems.append(f"{tf['pam_file']}: {' | '.join(have) or '(empty)'}; wanted {' | '.join(need)}")
    if not (live.get("packages") or {}).get("libpam-google-authenticator"):
        problems.append("package libpam-google-authenticator is not installed")
    problems += _owner_mode(live, tf["secret_dir"], "root", "root", "0700")
    secrets = (live.get("listings") or {}).get(tf["secret_dir"]) or {}
    notes = []
    for login in admins:
        secret = secrets.get(login)
        if secret and secret.get("exists"):
            if (secret["owner"], secret["mode"]) not in (("root", "0400"), ("root", "0600")):
                problems.append(f"{tf['secret_dir']}/{login}: {secret['owner']} {secret['mode']}, wanted root 0400")
            day = time.strftime("%Y-%m-%d", time.gmtime(secret["mtime"]))
            notes.append(f"{login}: enrolled (secret of {day})")
        else:
            notes.append(f"{login}: not enrolled - cannot log in here until `pmops otp enrol {login}`")
    return {"ACC-08": problems + [NOTE] + (notes or ["no person has sudo rights here"])}


# ------------------------------------------------------------------ files, units, packages
def _file(live: dict, path: str) -> dict:
    return (live.get("files") or {}).get(path) or {"exists": False}


def _content(live: dict, path: str) -> str | None:
    f = _file(live, path)
    return f.get("content") if f.get("exists") else None


def _lines(text: str | None) -> list[str]:
    """Non-empty, non-comment lines, whitespace squeezed."""
    return [" ".join(line.split()) for line in (text or "").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _need_lines(live: dict, path: str, wanted: list[str]) -> list[str]:
    """Problems when the file is missing or lacks one of the wanted lines (compared squeezed)."""
    text = _content(live, path)
    if text is None:
        return [f"{path}: missing"]
    have = set(_lines(text))
    return [f"{path}: no line '{line}'" for line in wanted if " ".join(line.split()) not in have]


def _owner_mode(live: dict, path: str, owner: str, group: str | None, mode: str) -> list[str]:
    f = _file(live, path)
    if not f.get("exists"):
        return [f"{path}: missing"]
    have = (f.get("owner"), f.get("group") if group else None, f.get("mode"))
    need = (owner, group, mode)
    if have != need:
        return [f"{path}: {' '.join(x for x in have if x)}, wanted {' '.join(x for x in need if x)}"]
    return []


def _unit(live: dict, name: str) -> dict:
    return (live.get("units") or {}).get(name) or {}


def _unit_state(live: dict, name: str, active: bool | None = True, enabled: bool | None = True) -> list[str]:
    unit = _unit(live, name)
    problems = []
    if active is not None and (unit.get("active") == "active") != active:
        problems.append(f"{name}: {unit.get('active', 'unknown')}, wanted {'active' if active else 'not active'}")
    if enabled is not None and (unit.get("enabled") in ("enabled", "static", "alias")) != enabled:
        problems.append(f"{name}: {unit.get('enabled') or 'not installed'}, wanted {'enabled' if enabled else 'disabled'}")
    return problems


def _probe(live: dict, name: str) -> dict:
    return (live.get("probes") or {}).get(name) or {"rc": None, "out": ""}


def _today(live: dict) -> int:
    """The host's day number (days since 1970, UTC), as shadow counts them."""
    return int(live.get("now") or time.time()) // 86400


def banner_problems(live: dict, path: str, banner: str) -> list[str]:
    """A banner file holds the legal text and names no system (CIS 1.6.1-1.6.3)."""
    text = _content(live, path)
    problems = [] if text is not None and text.strip() == banner.strip() else [f"{path}: not the legal banner"]
    if re.search(r"\\[mrsv]", text or ""):
        problems.append(f"{path}: names the system (getty escapes \\m \\r \\s \\v)")
    return problems


# ------------------------------------------------------------------ baseline
@check("BASE-01", "BASE-02", "BASE-03")
def baseline(wanted: dict, live: dict) -> Problems:
    want = wanted.get("baseline_wanted")
    if not want or "files" not in live:
        return {}
    on = want.get("enabled", {})
    out: Problems = {}
    if on.get("time_sync", True):
        problems = _unit_state(live, "chrony.service")
        problems += _need_lines(live, "/etc/chrony/chrony.conf",
                                [f"server {s} iburst" for s in want["ntp_servers"]] + [f"pool {p} iburst" for p in want["ntp_pools"]])
        sources = _probe(live, "chrony_sources")["out"]
        problems += [f"chronyc sources: {s} is not a source of the running chronyd" for s in want["ntp_servers"]
                     if s.replace(".", "").isdigit() and s not in sources]
        users = set(_probe(live, "chronyd_user")["out"].split())
        if users and users != {"_chrony"}:
            problems.append(f"chronyd runs as {', '.join(sorted(users))}, wanted _chrony")
        out["BASE-01"] = problems
    if on.get("journald", True):
        path = "/etc/systemd/journald.conf.d/60-pmops.conf"
        problems = _owner_mode(live, path, "root", None, "0644") + _need_lines(
            live, path, [f"{k}={v}" for k, v in want["journald"].items()])
        if want["journald"].get("Storage") == "persistent" and _file(live, "/var/log/journal").get("type") != "directory":
            problems.append("/var/log/journal: missing, so the journal is not kept across reboots")
        problems += _unit_state(live, "systemd-journald.service", enabled=None)
        out["BASE-02"] = problems
    if on.get("asset", True):
        path = "/etc/ansible/facts.d/asset.fact"
        problems = _owner_mode(live, path, "root", None, "0644")
        try:
            fact = json.loads(_content(live, path) or "")
        except ValueError:
            fact = None
        if fact is None:
            problems.append(f"{path}: not JSON")
        else:
            problems += [f"{path}: {k} is {fact.get(k)!r}, wanted {v!r}" for k, v in want["asset"].items() if fact.get(k) != v]
        out["BASE-03"] = problems
    return out


# ------------------------------------------------------------------ hardening
def _settings(text: str | None) -> dict[str, str]:
    """`key = value` lines (pwquality.conf, faillock.conf) to {key: value}; a bare word is a
    flag, {word: ""}. Comments and blank lines are skipped."""
    out = {}
    for line in _lines(text):
        if line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        out[key.strip()] = value.strip() if sep else ""
    return out


def _pam_password_lines(password: list[str]) -> list[str]:
    """common-password: pam_pwhistory and pam_unix take the password pwquality accepted
    (use_authtok), history holds for root too, pam_unix hashes with yescrypt and keeps no
    history of its own (CIS 5.3.3.3.2-3, 5.3.3.4.2-4)."""
    problems = []
    history = [line.split() for line in password if "pam_pwhistory.so" in line]
    unix = [line.split() for line in password if "pam_unix.so" in line]
    for words, need in ((history, ("use_authtok", "enforce_for_root")), (unix, ("use_authtok", "yescrypt"))):
        module = "pam_pwhistory.so" if words is history else "pam_unix.so"
        if not words:
            problems.append(f"/etc/pam.d/common-password: no {module}")
        problems += [f"/etc/pam.d/common-password: {module} without {w}" for line in words for w in need if w not in line]
    problems += [f"/etc/pam.d/common-password: pam_unix.so keeps its own history ({w})"
                 for line in unix for w in line if w.startswith("remember=")]
    return problems


def _login_defs(text: str | None) -> dict[str, str]:
    return dict(line.split(None, 1) for line in _lines(text) if len(line.split(None, 1)) == 2)


def password_accounts(want: dict, live: dict) -> list[str]:
    """Every usable password ages out and locks when unused (CIS 5.4.1.1-5.4.1.5, per account:
    login.defs rules only new ones), no password was changed in the future (5.4.1.6), and
    root has one (5.4.2.4). From shadow's day fields; a hash is never read."""
    accounts = (live.get("accounts") or {}).get("accounts") or {}
    if not accounts:
        return []
    today = _today(live)
    days, inactive = {k: int(v) for k, v in want["password_days"].items()}, int(want["password_inactive"])
    problems = []
    have = _settings(_content(live, "/etc/default/useradd")).get("INACTIVE", "(unset)")
    if have != str(inactive):
        problems.append(f"/etc/default/useradd: INACTIVE={have}, wanted {inactive} (new accounts lock {inactive} days "
                        "after their password expires)")
    root = accounts.get("root") or {}
    if root.get("password") != "set":
        problems.append(f"root: password {root.get('password', 'unknown')}, wanted one set (hardening_root_password, "
                        "kept in the vault)")
    for name, acc in sorted(accounts.items()):
        if (acc.get("changed") or 0) > today:
            problems.append(f"{name}: password last changed on {_day(acc['changed'] * 86400)[:10]}, a day in the future")
        if acc.get("password") == "set":
            problems += [f"{name}: {p}" for p in _ageing_problems(acc, days, inactive)]
    return problems


def _ageing_problems(acc: dict, days: dict[str, int], inactive: int) -> list[str]:
    """How a usable password's shadow fields fall short of login.defs' ageing and the lock."""
    problems = []
    if acc.get("max") is None or not 0 < acc["max"] <= days["max"]:
        problems.append(f"password never expires or after {acc.get('max')} days, wanted {days['max']}")
    if (acc.get("min") or 0) < days["min"]:
        problems.append(f"password may change again after {acc.get('min') or 0} days, wanted {days['min']}")
    if (acc.get("warn") or 0) < days["warn"]:
        problems.append(f"warned {acc.get('warn') or 0} days before the password expires, wanted {days['warn']}")
    if acc.get("inactive") is None or not 0 <= acc["inactive"] <= inactive:
        problems.append(f"not locked {inactive} days after the password expires "
                        f"(inactive {acc.get('inactive') if acc.get('inactive') is not None else 'never'})")
    return problems


def password_fixes(live: dict, days: dict, inactive: int) -> dict[str, list[str]]:
    """What a converge must set (the hardening role's passwords.yml, by the filter
    pmops_password_fixes): `age`, the accounts whose usable password lacks the ageing or the
    lock of password_accounts(); `restart`, those of them the new ageing would expire or lock
    at once (their last change is older than the maximum): their clock starts today, so that
    applying the rule never locks anyone out (pam_unix refuses a key login too); `future`,
    those whose last change is dated after today; `today`, the host's day number (UTC)."""
    accounts = (live.get("accounts") or {}).get("accounts") or {}
    today = _today(live)
    days, inactive = {k: int(v) for k, v in days.items()}, int(inactive)
    age = sorted(n for n, a in accounts.items() if a.get("password") == "set" and _ageing_problems(a, days, inactive))
    return {"age": age,
            "restart": [n for n in age if (accounts[n].get("changed") or 0) + days["max"] <= today],
            "future": sorted(n for n, a in accounts.items() if (a.get("changed") or 0) > today),
            "today": today}


def root_path(probe: dict) -> list[str]:
    """root's login PATH (CIS 5.4.2.5): no empty or relative entry, every directory there,
    owned by root and writable by nobody else. From the root_path probe."""
    lines = probe["out"].splitlines()
    if probe["rc"] not in (0, None) or not lines:
        return [f"root's login PATH could not be read: {probe['out'].strip()[-200:] or 'no output'}"]
    path, stats = lines[0], lines[1:]
    problems = []
    entries = path.split(":")
    if "" in entries:
        problems.append(f"root's PATH has an empty entry (the working directory): {path}")
    problems += [f"root's PATH has a relative entry: {e}" for e in entries if e and not e.startswith("/")]
    for line in stats:
        parts = line.split(" ", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            problems.append(f"root's PATH: {line}")
            continue
        owner, mode, where = parts
        if owner != "root":
            problems.append(f"root's PATH: {where} is owned by {owner}")
        if int(mode, 8) & 0o022:
            problems.append(f"root's PATH: {where} is writable by its group or others (mode {mode})")
    return problems


def log_file_fixes(probe: dict) -> list[dict]:
    """Log files under /var/log (CIS 6.2.2.1, journald's own 6.2.1.1.2) looser than allowed:
    no group may write them, nobody else may read them; the login records (wtmp, btmp,
    lastlog) may be written by their group (utmp) and read by all, as login programs and
    last(1) need. From the log_scan probe ('mode owner group path'), as [{path, mode, allowed,
    chmod}]: `chmod`, the symbolic mode that closes it (the hardening role's file_scan.yml)."""
    fixes = []
    for line in probe["out"].splitlines():
        parts = line.split(" ", 3)
        if len(parts) != 4 or not re.fullmatch(r"[0-7]{3,4}", parts[0]):
            continue  # find's own complaint (a file rotated away during the scan)
        record = re.match(r"(wtmp|btmp|lastlog)([.-]|$)", parts[3].rsplit("/", 1)[-1])
        allowed = 0o664 if record else 0o640
        if int(parts[0], 8) & ~allowed & 0o777:
            fixes.append({"path": parts[3], "mode": parts[0], "allowed": f"{allowed:o}",
                          "chmod": "u-x,g-x,o-wx" if record else "u-x,g-wx,o-rwx"})
    return fixes


def log_files(probe: dict) -> list[str]:
    """HARD-16's findings on log files (see log_file_fixes)."""
    return [f"{f['path']}: mode {f['mode']}, wanted {f['allowed']} or stricter" for f in log_file_fixes(probe)]


@check("HARD-19", "HARD-20")
def root_path_and_apt_sources(wanted: dict, live: dict) -> Problems:
    want = wanted.get("hardening_wanted")
    if not want or "probes" not in live:
        return {}
    out: Problems = {}
    if "root_path" in live["probes"]:
        out["HARD-19"] = root_path(_probe(live, "root_path"))
    if "apt_sources" in live["probes"]:
        out["HARD-20"] = apt_sources(_probe(live, "apt_sources")["out"], want.get("apt_repositories") or [])
    return out


def apt_sources(text: str, approved: list[str]) -> list[str]:
    """apt installs only signed packages from the approved repositories (CIS 1.2.1.1-1.2.1.2):
    no source or setting trusts unsigned ones, no legacy keyring trusts a key for every
    source, and every source's URI is one of `approved` (any, when it is empty). From the
    apt_sources probe: 'file:line' for each source line, then its own markers."""
    problems = []
    approved_set = {a.rstrip("/") for a in approved}
    for line in text.splitlines():
        if line.startswith(("legacy-keyring: ", "apt-config: ")):
            problems.append(line.replace("legacy-keyring: ", "a legacy keyring trusted for every source: ")
                            .replace("apt-config: ", "apt lets unsigned packages in: "))
            continue
        where, _, entry = line.partition(":")
        entry = entry.split(":", 1)[1] if entry.split(":", 1)[0].isdigit() else entry
        words = entry.replace("[", " ").replace("]", " ").split()
        lowered = [w.lower() for w in words]
        if any(w in ("trusted=yes", "allow-insecure=yes", "allow-weak=yes") for w in lowered) or \
                (lowered[:1] in (["trusted:"], ["allow-insecure:"], ["allow-weak:"]) and lowered[1:2] == ["yes"]):
            problems.append(f"{where}: trusts unsigned packages: {' '.join(words)}")
        uris = [w for w in words if "://" in w] if lowered[:1] in (["deb"], ["deb-src"], ["uris:"]) else []
        problems += [f"{where}: {u} is not an approved repository ({', '.join(sorted(approved_set))})"
                     for u in uris if approved_set and u.rstrip("/") not in approved_set]
    return problems


@check("HARD-01", "HARD-02", "HARD-03", "HARD-04", "HARD-05", "HARD-06", "HARD-07", "HARD-08", "HARD-09",
       "HARD-10", "HARD-11", "HARD-12", "HARD-13", "HARD-15", "HARD-16", "HARD-17")
def hardening(wanted: dict, live: dict) -> Problems:
    want = wanted.get("hardening_wanted")
    if not want or "files" not in live:
        return {}
    on = want.get("enabled", {})
    container = bool(live.get("container"))
    out: Problems = {}
    if on.get("sysctl", True):
        problems = _need_lines(live, want["sysctl_file"], [f"{k} = {v}" for k, v in want["sysctl"].items()])
        if not container:
            for key, value in want["sysctl"].items():
                f = _file(live, "/proc/sys/" + key.replace(".", "/"))
                now = " ".join((f.get("content") or "").split()) if f.get("exists") else "(no such parameter)"
                if now != " ".join(str(value).split()):
                    problems.append(f"{key}: {now} in force, wanted {value}")
        out["HARD-01"] = problems
    if on.get("login_defs", True):
        have = _login_defs(_content(live, "/etc/login.defs"))
        out["HARD-02"] = [f"/etc/login.defs: {k} {have.get(k, '(unset)')}, wanted {v}"
                          for k, v in want["login_defs"].items() if k != "UMASK" and have.get(k) != str(v)]
        out["HARD-02"] += password_accounts(want, live)
    if on.get("core_dumps", True):
        out["HARD-03"] = (_need_lines(live, "/etc/security/limits.d/60-pmops-core.conf", ["* hard core 0"])
                          + _need_lines(live, "/etc/systemd/coredump.conf.d/60-pmops.conf", ["Storage=none"]))
        dumpable = _file(live, "/proc/sys/fs/suid_dumpable")
        if not container and dumpable.get("exists") and (dumpable.get("content") or "").strip() != "0":
            out["HARD-03"].append(f"fs.suid_dumpable: {(dumpable.get('content') or '').strip()} in force, wanted 0")
    if on.get("shell", True) or on.get("login_defs", True):
        problems = []
        umask = "0" + str(want["umask"]).lstrip("0").rjust(3, "0")
        have = _login_defs(_content(live, "/etc/login.defs"))
        if have.get("UMASK") != str(want["umask"]):
            problems.append(f"/etc/login.defs: UMASK {have.get('UMASK', '(unset)')}, wanted {want['umask']}")
        shell = (_probe(live, "login_shell")["out"] + "\n\n\n").splitlines()
        if shell[0].strip() != umask:
            problems.append(f"a login shell's umask is {shell[0].strip() or '(none)'}, wanted {umask}")
        if int(want["shell_timeout"]) > 0:
            if shell[1].strip() != str(want["shell_timeout"]):
                problems.append(f"a login shell's TMOUT is {shell[1].strip() or '(unset)'}, wanted {want['shell_timeout']}")
            if shell[2].strip() != "1":
                problems.append("TMOUT is not read-only in a login shell")
        if want.get("umask_people"):
            problems += _need_lines(live, "/etc/profile.d/60-pmops-shell.sh", [f"umask {want['umask_people']}"])
        out["HARD-04"] = problems
    if on.get("sudo", True):
        path = "/etc/sudoers.d/10-pmops-defaults"
        problems = _owner_mode(live, path, "root", None, "0440")
        problems += _need_lines(live, path, ["Defaults use_pty", f'Defaults logfile="{want["sudo_logfile"]}"']
                                + ([] if "sudo_automation_user" not in want else [
                                    "Defaults requiretty", "Defaults noexec", "Defaults ignore_dot",
                                    f"Defaults:{want['sudo_automation_user']},root !requiretty, !noexec"]))
        valid = _probe(live, "sudoers_valid")
        if valid["rc"] not in (0, None):
            problems.append(f"visudo -c: {valid['out'].strip()}")
        if "packages" in live and not live["packages"].get("sudo"):
            problems.append("package sudo is not installed")
        problems += [f"sudoers turns re-authentication off: {line}" for line in _probe(live, "sudo_noauth")["out"].splitlines()
                     if "!authenticate" in line]
        problems += _need_lines(live, "/etc/pam.d/su", [f"auth required pam_wheel.so use_uid group={want['su_group']}"])
        group = ((live.get("accounts") or {}).get("groups") or {}).get(want["su_group"])
        if group is None:
            problems.append(f"group {want['su_group']} (the only one su lets in) does not exist")
        elif group["members"]:
            problems.append(f"group {want['su_group']} has members ({', '.join(group['members'])}): they may use su")
        out["HARD-05"] = problems
    if on.get("cron", True):
        problems = []
        for tool in ("cron", "at"):
            path = f"/etc/{tool}.allow"
            problems += _owner_mode(live, path, "root", None, "0640")
            listed = _lines(_content(live, path))
            if _file(live, path).get("exists") and listed != list(want["cron_allow"]):
                problems.append(f"{path}: {', '.join(listed) or '(empty)'}, wanted {', '.join(want['cron_allow'])}")
            if _file(live, f"/etc/{tool}.deny").get("exists"):
                problems.append(f"/etc/{tool}.deny exists: a deny list lets every other user in")
        out["HARD-06"] = problems
    if on.get("banner", True):
        # CIS 1.6.1, 1.6.2 (the text, which names no system), 1.6.4, 1.6.5 (owner and mode)
        out["HARD-07"] = [p for path in ("/etc/issue", "/etc/motd") for p in
                          banner_problems(live, path, want["banner_text"]) + _owner_mode(live, path, "root", "root", "0644")]
    if on.get("modules", True):
        text = _lines(_content(live, "/etc/modprobe.d/60-pmops-blacklist.conf"))
        problems = [f"kernel module {m} can load (no 'install {m} /bin/false')" for m in want["modules_refused"]
                    if f"install {m} /bin/false" not in text]
        problems += [f"kernel module {m} is refused, but this host's profile allows it" for m in want["modules_allowed"]
                     if f"install {m} /bin/false" in text]
        for line in _probe(live, "wireless")["out"].splitlines():
            iface, _, module = line.partition(" ")
            if not module or f"install {module} /bin/false" not in text:
                problems.append(f"wireless interface {iface}: its driver {module or '(unknown)'} can load")
        out["HARD-08"] = problems
    if on.get("file_perms", True):
        out["HARD-09"] = [p for f in want["sensitive_files"] if _file(live, f["path"]).get("exists") or f["path"] in (
            "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
            for p in _owner_mode(live, f["path"], f["owner"], f["group"], f["mode"])]
    if on.get("packages", True):
        installed = live.get("packages") or {}
        out["HARD-10"] = [f"package {p} is installed ({installed[p]}), and must not be" for p in want["packages_absent"]
                          if installed.get(p)]
        out["HARD-10"] += [f"package {p} is not installed" for p in want["packages_present"] if not installed.get(p)]
    if on.get("updates", True):
        problems = _need_lines(live, "/etc/apt/apt.conf.d/52pmops-unattended-upgrades",
                               [f'"{o}";' for o in want["updates_origins"]])
        if not want["updates_reboot"]:
            problems += _need_lines(live, "/etc/apt/apt.conf.d/52pmops-unattended-upgrades",
                                    ['Unattended-Upgrade::Automatic-Reboot "false";'])
        problems += _need_lines(live, "/etc/apt/apt.conf.d/20auto-upgrades", ['APT::Periodic::Unattended-Upgrade "1";'])
        timer = _unit(live, "apt-daily-upgrade.timer")
        problems += _unit_state(live, "apt-daily-upgrade.timer", active=None)
        if want["updates_window"].split()[0] not in timer.get("calendar", ""):
            problems.append(f"apt-daily-upgrade.timer runs at {timer.get('calendar') or '(no calendar)'}, "
                            f"wanted the window {want['updates_window']}")
        out["HARD-11"] = problems
    if on.get("pam", True):
        auth = _lines(_content(live, "/etc/pam.d/common-auth"))
        problems = [f"/etc/pam.d/common-auth: no line '{line}'" for line in
                    ("auth required pam_faillock.so preauth", "auth [default=die] pam_faillock.so authfail") if line not in auth]
        problems += [f"/etc/pam.d/common-auth: '{line}' lets an empty password in" for line in auth if "nullok" in line]
        problems += _need_lines(live, "/etc/pam.d/common-account", ["account required pam_faillock.so"])
        password = _lines(_content(live, "/etc/pam.d/common-password"))
        if not any(line.startswith("password requisite pam_pwquality.so") for line in password):
            problems.append("/etc/pam.d/common-password: pam_pwquality.so is not requisite")
        if not any(f"pam_pwhistory.so use_authtok remember={want['password_history']}" in line for line in password):
            problems.append(f"/etc/pam.d/common-password: pam_pwhistory does not remember {want['password_history']}")
        problems += _pam_password_lines(password)
        if want.get("hash_cost") is not None:
            problems += [f"/etc/pam.d/common-password: pam_unix.so hashes without rounds={want['hash_cost']}"
                         for line in password if "pam_unix.so" in line and f"rounds={want['hash_cost']}" not in line.split()]
        for path, settings, flags in (("/etc/security/pwquality.conf", want.get("pwquality") or {}, ["enforce_for_root"]),
                                      ("/etc/security/faillock.conf", want.get("faillock") or {}, [])):
            have = _settings(_content(live, path))
            problems += [f"{path}: {key} = {have.get(key, '(not set)')}, wanted {value}"
                         for key, value in settings.items() if have.get(key) != str(value)]
            problems += [f"{path}: no {flag}" for flag in flags if flag not in have]
        if not any(line.startswith("auth [success=1 default=ignore] pam_unix.so") for line in auth):
            problems.append("/etc/pam.d/common-auth: pam_unix.so is not the password check")
        problems += [f"package {p} is not installed" for p in ("libpam-modules", "libpam-pwquality")
                     if "packages" in live and not live["packages"].get(p)]
        # pwquality's dictcheck with no cracklib dictionary refuses every new password
        if str((want.get("pwquality") or {}).get("dictcheck", "0")) == "1" and \
                not _file(live, "/var/cache/cracklib/cracklib_dict.pwd").get("exists"):
            problems.append("/var/cache/cracklib/cracklib_dict.pwd: missing, so pwquality's dictionary check refuses "
                            "every new password (package cracklib-runtime)")
        problems += [f"{m}: missing, so the PAM stack cannot load it" for m in
                     ("/usr/lib/x86_64-linux-gnu/security/pam_faillock.so", "/usr/lib/x86_64-linux-gnu/security/pam_pwquality.so",
                      "/usr/lib/x86_64-linux-gnu/security/pam_pwhistory.so") if not _file(live, m).get("exists")]
        problems += [f"{line.split()[1]} {line.split()[2]} is older than 1.5.2-6" for line in
                     _probe(live, "pam_version")["out"].splitlines() if line.startswith("old ") and len(line.split()) == 3]
        if _file(live, f"/etc/pam.d/{want['pam_canary']}").get("exists"):
            problems.append(f"/etc/pam.d/{want['pam_canary']}: a canary's PAM service was left behind")
        out["HARD-12"] = problems
    if on.get("auditd", True):
        rules = _content(live, "/etc/audit/rules.d/50-pmops.rules") or ""
        problems = [f"audit rules: no '-k {k}'" for k in
                    ("identity", "scope", "privileged", "time-change", "logins", "session", "perm_mod", "modules", "mounts")
                    if f"-k {k}" not in rules]
        if ("-e 2" in rules) != bool(want["auditd_immutable"]):
            problems.append(f"audit rules: immutable (-e 2) is {'on' if '-e 2' in rules else 'off'}, wanted "
                            f"{'on' if want['auditd_immutable'] else 'off'}")
        problems += _need_lines(live, "/etc/audit/auditd.conf",
                                [f"admin_space_left_action = {want['auditd_admin_space_left_action']}"])
        if not container:
            problems += _unit_state(live, "auditd.service")
        out["HARD-13"] = problems
    if on.get("accounting", True):
        problems = [] if (live.get("packages") or {}).get("acct") else ["package acct is not installed"]
        if not container:
            problems += _unit_state(live, "acct.service", active=None)
        out["HARD-15"] = problems
    if on.get("file_scan", True):
        scan = _probe(live, "setid_scan")["out"].splitlines()
        found = {kind: sorted(line.split(" ", 1)[1] for line in scan if line.startswith(kind + " "))
                 for kind in ("setid", "writable", "unsticky")}
        problems = [f"set-id program not allowed: {p}" for p in found["setid"] if p not in want["setid_allowed"]]
        problems += [f"world-writable file: {p}" for p in found["writable"]]
        problems += [f"world-writable directory without the sticky bit: {p}" for p in found["unsticky"]]
        problems += log_files(_probe(live, "log_scan"))
        out["HARD-16"] = problems
    if on.get("services", True):
        out["HARD-17"] = [f"{name} is running, and must not" for name in want["services_disabled"]
                          if _unit(live, name).get("active") == "active"]
    return out


# ------------------------------------------------------------------ backup
@check("BKP-03")
def restore_drill(wanted: dict, live: dict) -> Problems:
    want = wanted.get("backup_wanted")
    if not want or "units" not in live:
        return {}
    if not want.get("restore_drill"):
        return {"BKP-03": [NOT_APPLICABLE, "no databases on this host, or it is the repository"]}
    problems = _owner_mode(live, "/usr/local/sbin/pmops-restore-drill", "root", None, "0755")
    problems += _unit_state(live, "pmops-restore-drill.timer", active=None)
    if not _unit(live, "pmops-restore-drill.timer").get("calendar", "").strip():
        problems.append("pmops-restore-drill.timer has no calendar")
    return {"BKP-03": problems}


def _other_tier(live: dict, tier: str, *ids: str) -> Problems:
    """A tier's controls on a host that is not in the tier (its role publishes nothing here)."""
    if not live:
        return {}
    return {cid: [NOT_APPLICABLE, f"a control of the {tier} tier; this host is not in it"] for cid in ids}


# ------------------------------------------------------------------ database tier
def _cidr(address: str | None, netmask: str | None) -> str | None:
    if not address:
        return None
    if "/" in address:
        return str(ipaddress.ip_network(address, strict=False))
    if not netmask:
        return address
    try:  # pg_hba_file_rules gives IPv6 masks as addresses too (::), which ip_network does not take
        prefix = bin(int(ipaddress.ip_address(netmask))).count("1")
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    except ValueError:
        return f"{address}/{netmask}"


def _hba_line(rule: dict) -> str:
    address = _cidr(rule.get("address"), rule.get("netmask"))
    return " ".join(x for x in (rule["type"], ",".join(rule["database"]), ",".join(rule["user"]), address or "",
                                rule["method"]) if x)


@check("DB-01", "DB-02")
def postgresql(wanted: dict, live: dict) -> Problems:
    want, state = wanted.get("postgresql_wanted"), live.get("postgresql")
    if not want:
        return _other_tier(live, "db", "DB-01", "DB-02")
    if state is None:
        return {}
    if "error" in state:
        reason = f"PostgreSQL could not be asked: {state['error']}"
        return {"DB-01": [reason], "DB-02": [reason]}
    hba = state.get("hba") or []
    problems = [f"pg_hba.conf line {i + 1}: {r['error']}" for i, r in enumerate(hba) if r.get("error")]
    have = [_hba_line(r) for r in hba if not r.get("error")]
    need = [_hba_line(r) for r in want["hba"]]
    problems += [f"pg_hba: admitted but not in the policy: {line}" for line in _multiset_minus(have, need)]
    problems += [f"pg_hba: in the policy but not in force: {line}" for line in _multiset_minus(need, have)]
    if not problems and have != need:
        problems.append("pg_hba: the rules are in another order than the policy's (the first match wins)")
    settings = state.get("settings") or {}
    problems += [f"{k} = {settings.get(k, '(unset)')} in force, wanted {v}" for k, v in want["settings"].items()
                 if settings.get(k) != v]
    problems += _unit_state(live, want["service"])
    if want["settings"].get("ssl") == "on":
        problems += sorted({f"{c['user']} is connected from {c['address']} without TLS"
                            for c in state.get("connections") or [] if not c.get("ssl")})
    roles = {r["name"]: r for r in state.get("roles") or []}
    db_roles = [f"role {n} is a superuser; only {', '.join(want['superusers'])} may be" for n, r in sorted(roles.items())
                if r["superuser"] and n not in want["superusers"]]
    db_roles += [f"role {n} can log in, but the policy names no such login role" for n, r in sorted(roles.items())
                 if r["login"] and n not in want["login_roles"]]
    return {"DB-01": problems, "DB-02": db_roles}


def unknown_db_roles(wanted: dict, live: dict) -> list[str]:
    """Roles that are superusers or can log in and that the policy does not name (for the role's heal)."""
    want, state = wanted.get("postgresql_wanted"), live.get("postgresql")
    if not want or not state or "error" in state:
        return []
    return sorted(r["name"] for r in state.get("roles") or []
                  if (r["superuser"] and r["name"] not in want["superusers"])
                  or (r["login"] and r["name"] not in want["login_roles"]))


# ------------------------------------------------------------------ web tier
def nginx_tree(text: str) -> list:
    """nginx -T output to [(directive, [args], children or None)], comments dropped, quotes kept."""
    tokens, word, quote = [], "", ""
    for line in text.splitlines():
        i = 0
        while i < len(line):
            ch = line[i]
            if quote:
                word += ch
                if ch == quote and line[i - 1] != "\\":
                    quote = ""
            elif ch in "\"'":
                quote, word = ch, word + ch
            elif ch == "#":
                break
            elif ch in ";{}":
                if word:
                    tokens.append(word)
                    word = ""
                tokens.append(ch)
            elif ch.isspace():
                if word:
                    tokens.append(word)
                    word = ""
            else:
                word += ch
            i += 1
        if word and not quote:
            tokens.append(word)
            word = ""

    def block(pos: int) -> tuple[list, int]:
        out, words = [], []
        while pos < len(tokens):
            tok = tokens[pos]
            if tok == ";":
                if words:
                    out.append((words[0], words[1:], None))
                words = []
            elif tok == "{":
                children, pos = block(pos + 1)
                out.append((words[0] if words else "", words[1:], children))
                words = []
            elif tok == "}":
                return out, pos
            else:
                words.append(tok)
            pos += 1
        return out, pos

    return block(0)[0]


def nginx_config(text: str, main: str = "/etc/nginx/nginx.conf") -> list:
    """`nginx -T` output as one tree: it prints each file after a '# configuration file PATH:'
    line, and each `include` is put back where it stands (relative paths from /etc/nginx)."""
    files: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^# configuration file (.+):$", line)
        if match:
            current = match.group(1)
            files[current] = ""
        elif current is not None:
            files[current] += line + "\n"
    if not files:
        return nginx_tree(text)
    seen: set[str] = set()

    def expand(nodes: list) -> list:
        out = []
        for name, args, children in nodes:
            if name == "include" and children is None and args:
                pattern = args[0] if args[0].startswith("/") else f"/etc/nginx/{args[0]}"
                for path in sorted(p for p in files if fnmatch.fnmatch(p, pattern) and p not in seen):
                    seen.add(path)
                    out += expand(nginx_tree(files[path]))
                continue
            out.append((name, args, expand(children) if children is not None else None))
        return out

    root = main if main in files else next(iter(files))
    seen.add(root)
    return expand(nginx_tree(files[root]))


def _directives(nodes: list, name: str) -> list[list[str]]:
    return [args for d, args, children in nodes if d == name and children is None]


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'" else text


@check("WEB-01")
def nginx(wanted: dict, live: dict) -> Problems:
    want, state = wanted.get("nginx_wanted"), live.get("nginx")
    if not want:
        return _other_tier(live, "web", "WEB-01")
    if state is None:
        return {}
    problems = _unit_state(live, "nginx.service")
    if state.get("rc") != 0:
        return {"WEB-01": problems + [f"nginx -T failed: {state.get('error') or state.get('rc')}"]}
    tree = nginx_config(state.get("config", ""))
    http = next((children for d, _, children in tree if d == "http" and children is not None), [])
    headers = {name: _unquote(" ".join(value)) for name, *value in want["headers"]}
    headers = {name: _unquote(value) for name, value in headers.items()}

    def effective(nodes: list, parent: list, name: str) -> list[str] | None:
        own = _directives(nodes, name)
        if own:
            return own[-1]
        inherited = _directives(parent, name)
        return inherited[-1] if inherited else None

    tokens = effective(http, [], "server_tokens")
    if not tokens or tokens[0] != "off":
        problems.append("server_tokens is not off: nginx names its version")
    servers = [children for d, _, children in http if d == "server" and children is not None]
    tls_servers = [srv for srv in servers if any("ssl" in args for args in _directives(srv, "listen"))]
    if not tls_servers:
        problems.append("no server listens with TLS")
    for srv in tls_servers:
        name = " ".join((_directives(srv, "server_name") or [["(unnamed)"]])[0])
        protocols = effective(srv, http, "ssl_protocols") or ["(nginx's default)"]
        if sorted(protocols) != sorted(want["tls_protocols"]):
            problems.append(f"server {name}: ssl_protocols {' '.join(protocols)}, wanted {' '.join(want['tls_protocols'])}")
        ciphers = (effective(srv, http, "ssl_ciphers") or ["(nginx's default)"])[0]
        if ciphers != ":".join(want["tls_ciphers"]):
            problems.append(f"server {name}: ssl_ciphers {ciphers}, wanted {':'.join(want['tls_ciphers'])}")
        scopes = [("server " + name, srv)] + [(f"server {name} location {' '.join(args)}", children)
                                              for d, args, children in srv if d == "location" and children]
        for scope, nodes in scopes:
            own = _directives(nodes, "add_header")
            if scope.startswith("server ") and " location " not in scope:
                own = own or _directives(http, "add_header")
            elif not own:
                continue  # a location without add_header inherits the server's
            have = {args[0]: _unquote(" ".join(a for a in args[1:] if a != "always")) for args in own if args}
            for header, value in headers.items():
                if have.get(header) != value:
                    problems.append(f"{scope}: {header} is {have.get(header) or 'not sent'}, wanted {value}"
                                    + ("" if scope.count("location") == 0 else
                                       " (an add_header in a location drops the server's)"))
    return {"WEB-01": problems}


# ------------------------------------------------------------------ application tier
@check("APP-01")
def app_sandbox(wanted: dict, live: dict) -> Problems:
    want = wanted.get("app_wanted")
    if not want:
        return _other_tier(live, "app", "APP-01")
    if "unit_properties" not in live:
        return {}
    have = (live.get("unit_properties") or {}).get(want["unit"], {})
    problems = _unit_state(live, want["unit"])
    problems += [f"{want['unit']}: {key}={have.get(key, '(unset)')} in force, wanted {key}={value}"
                 for key, value in want["sandbox"] if have.get(key) != str(value)]
    return {"APP-01": problems}


@check("APP-02")
def app_db_tls(wanted: dict, live: dict) -> Problems:
    want = wanted.get("app_wanted")
    if not want:
        return _other_tier(live, "app", "APP-02")
    if "env_files" not in live:
        return {}
    env = (live.get("env_files") or {}).get(want["env_file"], {"exists": False})
    if not env.get("exists"):
        return {"APP-02": [f"{want['env_file']}: missing"]}
    values = env.get("values", {})
    problems = [f"{want['env_file']}: {k}={values.get(k, '(unset)')}, wanted {k}={v}" for k, v in want["db_tls"].items()
                if values.get(k, "") != str(v)]
    for path in want["secret_files"]:
        problems += _owner_mode(live, path, "root", want["user"], "0640")
    return {"APP-02": problems}


# ------------------------------------------------------------------ listening sockets
def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _port_allowed(port: int, rules: list[dict], proto: str) -> bool:
    for rule in rules:
        if rule.get("proto", "tcp") != proto:
            continue
        low, _, high = str(rule["port"]).partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


@check("NET-02")
def sockets(wanted: dict, live: dict) -> Problems:
    want, found = wanted.get("firewall_wanted"), live.get("sockets")
    if not want or found is None:
        return {}
    rules = list(want["rules"]) + [{"port": want["ssh_port"], "proto": "tcp"}]
    problems = []
    for sock in found:
        if _loopback(sock["address"]) or sock["port"] is None:
            continue
        proto = "udp" if sock["proto"].startswith("udp") else "tcp"
        if not _port_allowed(int(sock["port"]), rules, proto):
            who = f" ({sock['process']})" if sock.get("process") else ""
            problems.append(f"{proto} {sock['address']}:{sock['port']}{who} listens, but the tier policy opens no such port")
        if proto == "tcp" and int(sock["port"]) in MAIL_PORTS:
            problems.append(f"a mail transfer agent listens on {sock['address']}:{sock['port']}: "
                            "mail is sent from loopback only (CIS 2.1.21)")
    return {"NET-02": sorted(set(problems))}


MAIL_PORTS = frozenset({25, 465, 587})


# ------------------------------------------------------------------ monitoring (8.1.5.4)
# The alerts each MON control depends on; MON-01 judges every other alert of the rule files.
MON_ALERTS = {
    "MON-03": ("LoginFailures", "FileIntegrityChanged", "FileIntegrityCheckStale"),
    "MON-04": ("SecurityUpdatesPending",),
    "MON-05": ("BackupStale", "RestoreDrillStale", "ResticCheckStale", "WalShippingStale"),
}
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def duration_seconds(text: str) -> float | None:
    """Prometheus's duration ("180d", "1h30m", "0s") in seconds, None when it is not one."""
    parts = re.findall(r"(\d+)(ms|[smhdwy])", str(text).strip())
    if not parts or "".join(n + u for n, u in parts) != str(text).strip():
        return None
    return sum(int(n) * DURATION_UNITS[u] for n, u in parts)


def metric_values(text: str | None) -> dict[str, float]:
    """A textfile's metrics, {name: value} from the text format's `name{labels} value` lines
    (a metric with several label sets: its largest value)."""
    values: dict[str, float] = {}
    for line in _lines(text):
        sample, _, rest = line.rpartition(" ")
        name = sample.split("{", 1)[0].strip()
        try:
            value = float(rest)
        except ValueError:
            continue
        if name:
            values[name] = max(value, values.get(name, value))
    return values


def _textfile(live: dict, path: str, max_age: float, need: Iterable[str]) -> list[str]:
    """A textfile that must be fresh and carry these metrics."""
    info = _file(live, path)
    if not info.get("exists"):
        return [f"{path}: missing, so the monitor never sees what it should carry"]
    problems = []
    age = live.get("now", 0) - info.get("mtime", 0)
    if age > max_age:
        problems.append(f"{path}: written {age / 60:.0f} min ago (at most {max_age / 60:.0f} min): its collector stopped")
    have = metric_values(info.get("content"))
    problems += [f"{path}: no {name}" for name in need if name not in have]
    return problems


def _monitor(live: dict) -> dict:
    return live.get("monitor") or {}


def _alerts_loaded(live: dict, names: Iterable[str]) -> list[str]:
    rules = _monitor(live).get("rules") or {}
    problems = []
    for name in names:
        if name not in rules:
            problems.append(f"Prometheus has no alert {name} loaded")
        elif rules[name] not in ("ok", "unknown", ""):
            problems.append(f"alert {name}: rule health {rules[name]}")
    return problems


def _monitor_errors(live: dict) -> list[str]:
    return [f"monitor API: {e}" for e in _monitor(live).get("errors", [])]


@check("MON-01")
def central_monitoring(wanted: dict, live: dict) -> Problems:
    """Every host's exporters run; on the monitor tier, Prometheus and Alertmanager run, scrape
    every target the inventory gives (up), send to Alertmanager, and have every alert loaded."""
    want, prom = wanted.get("exporters_wanted"), wanted.get("prometheus_wanted")
    if not want or "units" not in live:
        return {}
    problems = []
    for unit in want["services"] + want["timers"]:
        problems += _unit_state(live, unit)
    if prom:
        for unit in prom["services"]:
            problems += _unit_state(live, unit)
        problems += _monitor_errors(live)
        targets = _monitor(live).get("targets") or []
        for job, hosts in sorted(prom["jobs"].items()):
            for host in hosts:
                found = [t for t in targets if t["job"] == job and t["host"] == host]
                if not found:
                    problems.append(f"{job} target {host}: Prometheus does not scrape it")
                for target in found:
                    if target["health"] != "up":
                        problems.append(f"{job} target {host} ({target['scrape_url']}): {target['health']}"
                                        + (f": {target['error']}" if target.get("error") else ""))
        if prom["enabled"].get("alertmanager") and not _monitor(live).get("alertmanagers"):
            problems.append("Prometheus sends its alerts to no Alertmanager")
        claimed = {a for names in MON_ALERTS.values() for a in names}
        problems += _alerts_loaded(live, [a for a in prom["alerts"] if a not in claimed])
    return {"MON-01": problems}


@check("MON-02")
def secure_management_path(wanted: dict, live: dict) -> Problems:
    """Exporters answer only a client with a certificate of the CA (a stranger gets no data);
    the monitor scrapes them over https, and its APIs refuse a stranger without the password."""
    want, prom = wanted.get("exporters_wanted"), wanted.get("prometheus_wanted")
    if not want or "endpoints" not in live and want["endpoints"]:
        return {}
    problems = []
    for name, probe in sorted((live.get("endpoints") or {}).items()):
        status = probe.get("status")
        if status is not None and status < 400:
            how = "TLS without a client certificate" if probe.get("tls") else "plain HTTP"
            problems.append(f"{name} (:{probe['port']}) answers a stranger over {how} (HTTP {status})")
    if prom:
        tls_jobs = set(prom["tls_jobs"])
        for target in _monitor(live).get("targets") or []:
            if target["job"] in tls_jobs and not target["scrape_url"].startswith("https://"):
                problems.append(f"{target['job']} target {target['host']} is scraped in the clear: {target['scrape_url']}")
        for api, key, on in (("Prometheus", "prometheus_anonymous", "server"), ("Alertmanager", "alertmanager_anonymous", "alertmanager")):
            code = _monitor(live).get(key)
            if prom["enabled"].get(on) and code is not None and code != 401:
                problems.append(f"{api}'s API answers a stranger without the password (HTTP {code}, wanted 401)")
    return {"MON-02": problems}


@check("MON-03", "MON-04")
def security_events_and_patches(wanted: dict, live: dict) -> Problems:
    """pmops-security-metrics publishes failed logins and the AIDE check's result (MON-03) and
    pending updates (MON-04), fresh; the monitor has their alerts loaded."""
    want, prom = wanted.get("exporters_wanted"), wanted.get("prometheus_wanted")
    if not want or "files" not in live:
        return {}
    if not want["enabled"].get("security"):
        return {}
    security, max_age = want["security"], want["max_age"]
    path = security["textfile"]
    timer = _unit_state(live, security["timer"])
    events = ["pmops_login_failures_total"]
    if _unit(live, security["aide_timer"]).get("load") == "loaded":
        events.append("pmops_aide_database_timestamp_seconds")
    mon03 = timer + _textfile(live, path, max_age, events)
    mon04 = timer + _textfile(live, path, max_age, ["pmops_security_updates_pending", "pmops_reboot_required"])
    if prom:
        mon03 += _alerts_loaded(live, MON_ALERTS["MON-03"])
        if prom["enabled"].get("alertmanager") and not _monitor(live).get("alertmanager_receivers"):
            mon03.append("Alertmanager has no receiver: alarms reach nobody")
        mon04 += _alerts_loaded(live, MON_ALERTS["MON-04"])
    return {"MON-03": mon03, "MON-04": mon04}


@check("MON-05")
def backup_freshness(wanted: dict, live: dict) -> Problems:
    """The host's newest backup and restore drill (or its enrolment, before the first) are at most
    26 hours old, as the monitor judges them; the monitor has the backup alerts loaded."""
    want, prom = wanted.get("backup_wanted"), wanted.get("prometheus_wanted")
    if not want or "files" not in live:
        return {}
    problems = []
    for item in want.get("freshness", []):
        values = {}
        for path in item["files"]:
            values.update(metric_values(_content(live, path)))
        stamps = [values[m] for m in item["metrics"] if m in values]
        if not stamps:
            problems.append(f"{item['what']}: none of {', '.join(item['metrics'])} in {', '.join(item['files'])}")
            continue
        age = live.get("now", 0) - max(stamps)
        if age > item["max_age"]:
            problems.append(f"{item['what']}: the newest success (or the enrolment) is {age / 3600:.1f} h old, "
                            f"over {item['max_age'] / 3600:.0f} h")
    if prom:
        problems += _alerts_loaded(live, MON_ALERTS["MON-05"])
    if not want.get("freshness") and not prom:
        return {"MON-05": [NOT_APPLICABLE, "no backups of its own: it holds the repositories (BKP-02)"]}
    return {"MON-05": problems}


@check("MON-06")
def alarm_record_retention(wanted: dict, live: dict) -> Problems:
    """Prometheus keeps its series, the alarms' (ALERTS) among them, for the retention the audit
    asks (six months), with a size cap; its storage flags in force say so."""
    prom = wanted.get("prometheus_wanted")
    if not prom:
        return _other_tier(live, "monitor", "MON-06")
    if "monitor" not in live:
        return {}
    if not prom["enabled"].get("server"):
        return {"MON-06": [NOT_APPLICABLE, "no Prometheus on this host"]}
    flags = _monitor(live).get("flags") or {}
    if not flags:
        return {"MON-06": _monitor_errors(live) or ["Prometheus printed no flags"]}
    problems = []
    have, need = duration_seconds(flags.get("storage.tsdb.retention.time", "")), duration_seconds(prom["retention_time"])
    if have is None or need is None or have < need:
        problems.append(f"storage.tsdb.retention.time={flags.get('storage.tsdb.retention.time')!r} in force, "
                        f"wanted at least {prom['retention_time']}")
    size = flags.get("storage.tsdb.retention.size", "")
    if size in ("", "0B", "0") or size != prom["retention_size"]:
        problems.append(f"storage.tsdb.retention.size={size!r} in force, wanted {prom['retention_size']}")
    return {"MON-06": problems}


# ------------------------------------------------------------------ malicious code
SIGNATURE_FILE = re.compile(r".+\.(cvd|cld|hdb|hsb|ndb|ldb|yara)$")
# A daily scan plus its random delay: two missed runs (as the alert MalwareScanStale).
SCAN_MAX_AGE = 50 * 3600


def _day(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))


@check("MAL-01")
def malicious_code(wanted: dict, live: dict) -> Problems:
    """ClamAV in force (GB/T 22239 8.1.4.5): installed, signatures there (and fresh where a
    mirror updates them), the daily scan enabled and run to its end within two days, and an
    empty quarantine (a file there is an incident a person reviews). The last scan and the
    signatures are evidence of a pass."""
    want = wanted.get("antimalware_wanted")
    if not want or "units" not in live:
        return {}
    problems: list[str] = []
    packages = live.get("packages") or {}
    problems += [f"package {p} is not installed" for p in ("clamav",) if not packages.get(p)]
    listings = live.get("listings") or {}
    db = {n: e for n, e in (listings.get(want["db_dir"]) or {}).items() if SIGNATURE_FILE.match(n) and e.get("exists")}
    if not db:
        problems.append(f"{want['db_dir']}: no signature file: the scanner finds nothing")
    elif want["selftest"] not in db:
        problems.append(f"{want['db_dir']}/{want['selftest']}: missing (the self-test signature)")
    newest = max((e.get("mtime", 0) for e in db.values()), default=0)
    now = live.get("now", 0)
    notes = []
    if want["updates"]:
        problems += _unit_state(live, want["freshclam_unit"])
        conf = _content(live, "/etc/clamav/freshclam.conf") or ""
        if f"PrivateMirror {want['mirror']}" not in _lines(conf):
            problems.append(f"/etc/clamav/freshclam.conf: no 'PrivateMirror {want['mirror']}'")
        limit = int(want["signature_max_age_days"]) * 86400
        if db and now - newest > limit:
            problems.append(f"signatures last written {_day(newest)}, over {want['signature_max_age_days']} days ago: "
                            f"updates from {want['mirror']} stopped")
        notes.append(f"signature updates: freshclam from {want['mirror']}")
    else:
        if _unit(live, want["freshclam_unit"]).get("active") == "active":
            problems.append(f"{want['freshclam_unit']}: active, but no mirror is set: it tries public mirrors the servers cannot reach")
        notes.append("signature updates: none (antimalware_mirror is not set): the role's and the organisation's own signatures only")
    if db:
        notes.append(f"signature files: {', '.join(sorted(db))} (newest {_day(newest)})")
    if want["scan"]:
        problems += _unit_state(live, want["timer"])
        metrics = metric_values(_content(live, want["metrics"]))
        last = metrics.get("pmops_malware_scan_last_success_timestamp_seconds", 0)
        if not _file(live, want["metrics"]).get("exists"):
            problems.append(f"{want['metrics']}: missing: no scan has run")
        elif metrics.get("pmops_malware_scan_last_run_success") != 1:
            problems.append("the last scan failed (pmops_malware_scan_last_run_success 0): see journalctl -t pmops-malware")
        elif now - last > SCAN_MAX_AGE:
            problems.append(f"the last scan that ran to its end was at {_day(last)}, over 50 hours ago")
        if last:
            notes.append(f"last scan {_day(last)}: {metrics.get('pmops_malware_scan_files', 0):.0f} files, "
                         f"{metrics.get('pmops_malware_scan_found', 0):.0f} found, "
                         f"{metrics.get('pmops_malware_signatures', 0):.0f} signatures loaded")
    problems += _owner_mode(live, want["quarantine_dir"], "root", "root", "0700")
    quarantined = sorted(listings.get(want["quarantine_dir"]) or {})
    if quarantined:
        problems.append(f"{want['quarantine_dir']}: {len(quarantined)} file(s) quarantined, waiting for a person's review: "
                        f"{', '.join(quarantined[:5])}{' ...' if len(quarantined) > 5 else ''}")
    return {"MAL-01": problems + [NOTE] + notes}


# ------------------------------------------------------------------ not applicable
NOT_APPLICABLE = "not_applicable"
# Evidence that is not a problem (who is enrolled): after this marker, shown with the verdict.
NOTE = "note"


@check("HARD-01", "HARD-08", "HARD-13", "HARD-15", complete=False)
def container_limits(wanted: dict, live: dict) -> Problems:
    """On a container, the controls the hardening role says it cannot hold are not applicable
    (marked by NOT_APPLICABLE as their first line, with the role's reason)."""
    want = wanted.get("hardening_wanted")
    if not want or not live.get("container"):
        return {}
    return {cid: [NOT_APPLICABLE, f"{reason} ({live['container']} container)"]
            for cid, reason in want.get("container_not_applicable", {}).items()}


# ------------------------------------------------------------------ evaluation
def _delta(have: set, need: set) -> str:
    parts = []
    if have - need:
        parts.append("extra " + ", ".join(sorted(have - need)))
    if need - have:
        parts.append("missing " + ", ".join(sorted(need - have)))
    return "; ".join(parts)


def _multiset_minus(a: list[str], b: list[str]) -> list[str]:
    rest = list(b)
    out = []
    for item in a:
        if item in rest:
            rest.remove(item)
        else:
            out.append(item)
    return out


def run_checks(wanted: dict, live: dict) -> Problems:
    """Every registered check on one host: {control id: [problems]} for the controls checked."""
    results: Problems = {}
    for _ids, _complete, func in CHECKS:
        for cid, problems in func(wanted, live).items():
            results.setdefault(cid, []).extend(problems)
    return results


def evaluate(events: Iterable[dict]) -> dict[str, dict[str, dict]]:
    """{host: {control id: {status: pass|fail, evidence}}} from the live-state play's events."""
    wanted: dict[str, dict] = defaultdict(dict)
    live: dict[str, dict] = {}
    for event in events:
        if event.get("wanted"):
            wanted[event["host"]].update(event["wanted"])
        if isinstance(event.get("live"), dict):
            live[event["host"]] = event["live"]
    out = {}
    for host, state in live.items():
        out[host] = {cid: verdict(problems) for cid, problems in run_checks(wanted[host], state).items()}
    return out


def verdict(problems: list[str]) -> dict:
    """pass, fail or not_applicable from a control's problems. A problem found before the
    NOT_APPLICABLE marker still fails the control: a file the role writes, changed by hand,
    is drift even where the kernel cannot apply it."""
    notes: list[str] = []
    if NOTE in problems:
        at = problems.index(NOTE)
        problems, notes = problems[:at], problems[at + 1:]
    if NOT_APPLICABLE in problems:
        at = problems.index(NOT_APPLICABLE)
        real = problems[:at]
        if not real:
            return {"status": "not_applicable", "evidence": problems[at + 1:]}
        problems = real
    return {"status": "fail" if problems else "pass", "evidence": problems + notes}
