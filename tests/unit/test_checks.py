"""pmops.checks: the compliance verdicts from the state in force, on what real lab hosts
reported (tests/unit/data/live-*.json: the live-state play's `wanted` and `live` of web-01,
backup-01, db-01 and app-01 right after a converge), clean and with one drift at a time.

The table below is the drift corpus at unit level: every entry is a change an intruder, a
hurried administrator or a package upgrade could leave, the control that must fail, and a
piece of the evidence. tests/drills/test_comply.py makes a batch of them on the lab for real.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from pmops import checks, controls  # noqa: E402

DATA = ROOT / "tests" / "unit" / "data"
HOSTS = ("web-01", "backup-01", "db-01", "app-01", "monitor-01")


def sample(host: str) -> dict:
    return json.loads((DATA / f"live-{host}.json").read_text())


def verdicts(data: dict) -> dict[str, dict]:
    return {cid: checks.verdict(p) for cid, p in checks.run_checks(data["wanted"], data["live"]).items()}


@pytest.mark.parametrize("host", HOSTS)
def test_a_converged_host_has_no_false_alarm(host):
    results = verdicts(sample(host))
    assert {cid: r["evidence"] for cid, r in results.items() if r["status"] == "fail"} == {}
    # every control the checks decide has a verdict on every host (not applicable included)
    assert set(results) == checks.controls_checked()
    tiers = {"DB-01", "DB-02", "WEB-01", "APP-01", "APP-02", "MON-06"}
    mine = {"db-01": {"DB-01", "DB-02"}, "web-01": {"WEB-01"}, "app-01": {"APP-01", "APP-02"},
            "monitor-01": {"MON-06"}}.get(host, set())
    assert {c for c in tiers if results[c]["status"] == "not_applicable"} == tiers - mine


def test_a_container_cannot_hold_kernel_controls_they_are_not_applicable():
    results = verdicts(sample("web-01"))
    assert {c for c, r in results.items() if r["status"] == "not_applicable"} >= {"HARD-01", "HARD-08", "HARD-13", "HARD-15"}
    assert "host kernel" in " ".join(results["HARD-13"]["evidence"])


def _set(data, path, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _file(data, path, text):
    data["live"]["files"][path]["content"] = text


def _append(data, path, text):
    data["live"]["files"][path]["content"] += text


def _nft_rule(data, port):
    data["live"]["nftables"]["ruleset"].append({"rule": {
        "chain": "input", "family": "inet", "table": "pmops", "handle": 99,
        "expr": [{"match": {"left": {"payload": {"field": "dport", "protocol": "tcp"}}, "op": "==", "right": port}},
                 {"accept": None}]}})


def _account(data, name, uid, shell="/bin/bash", password="set", groups=None, expires=None):
    data["live"]["accounts"]["accounts"][name] = {
        "name": name, "uid": uid, "gid": uid, "gecos": "", "home": f"/home/{name}", "shell": shell,
        "login_shell": shell not in ("/usr/sbin/nologin", "/bin/false"), "password": password,
        "expires": expires, "groups": groups or [name],
        # aged as HARD-02 wants, so that only the control a drift is about fails
        "changed": 20000, "min": 1, "max": 90, "warn": 14, "inactive": 45}


def _sshd(data, key, value):
    data["live"]["sshd"]["effective"][key] = [value]


def _nginx(data, old, new):
    config = data["live"]["nginx"]["config"]
    assert old in config
    data["live"]["nginx"]["config"] = config.replace(old, new, 1)


def _pg(data, key, value):
    data["live"]["postgresql"][key] = value(data["live"]["postgresql"][key])


SECURITY_PROM = "/var/lib/prometheus/node-exporter/pmops_security.prom"
MALWARE_PROM = "/var/lib/prometheus/node-exporter/pmops_malware.prom"


def _drop_metric(data, path, name):
    info = data["live"]["files"][path]
    info["content"] = "".join(line + "\n" for line in info["content"].splitlines() if not line.startswith(name))


def _target(data, job, host, **changes):
    [target] = [t for t in data["live"]["monitor"]["targets"] if t["job"] == job and t["host"] == host]
    target.update(changes)


def _backups_stopped(data):
    """The last backup and the enrolment both two days old."""
    old = int(data["live"]["now"]) - 2 * 86400
    for name in ("pmops_backup.prom", "pmops_backup_enrolled.prom"):
        data["live"]["files"][f"/var/lib/prometheus/node-exporter/{name}"] = {
            "exists": True, "mtime": old, "content": f"pmops_backup_{'last_success' if name == 'pmops_backup.prom' else 'enrolled'}"
                                                   f"_timestamp_seconds {old}\n"}


# host, control, drift (what is done to the sample), evidence that must be named
DRIFTS = [
    ("web-01", "SSH-01", lambda d: _sshd(d, "permitrootlogin", "yes"), "permitrootlogin: effective yes, wanted no"),
    ("web-01", "SSH-02", lambda d: _sshd(d, "passwordauthentication", "yes"), "passwordauthentication"),
    ("web-01", "SSH-03", lambda d: _sshd(d, "ciphers", "aes128-cbc,aes256-ctr"), "ciphers: effective aes128-cbc"),
    ("web-01", "SSH-04", lambda d: d["live"]["sshd"]["host_keys"].append("ecdsa"), "extra ecdsa"),
    ("web-01", "SSH-05", lambda d: d["live"]["sshd"]["effective"].pop("allowgroups"), "allowgroups"),
    ("web-01", "SSH-06", lambda d: _sshd(d, "maxauthtries", "100"), "maxauthtries: effective 100"),
    ("web-01", "SSH-07", lambda d: _sshd(d, "allowtcpforwarding", "yes"), "allowtcpforwarding"),
    ("web-01", "SSH-08", lambda d: _sshd(d, "banner", "none"), "banner: effective none"),
    ("web-01", "SSH-09", lambda d: _set(d, ["live", "sshd", "config", "mode"], "0666"), "root 0666"),
    ("db-01", "SSH-08", lambda d: _file(d, "/etc/issue.net", "Debian GNU/Linux 12 \\n \\l\n"), "/etc/issue.net: not the legal banner"),
    ("app-01", "SSH-08", lambda d: _append(d, "/etc/issue.net", "Kernel \\r on \\m\n"), "/etc/issue.net: names the system"),
    ("web-01", "NET-01", lambda d: _nft_rule(d, 5432), "loaded but not in the policy: tcp dport 5432 accept"),
    ("web-01", "NET-01", lambda d: _set(d, ["live", "nftables"], {"loaded": False, "error": "No such file"}),
     "rule set is not loaded"),
    ("db-01", "NET-01", lambda d: d["live"]["nftables"]["ruleset"].pop(), "in the policy but not loaded"),
    ("web-01", "ACC-01", lambda d: d["live"]["accounts"]["accounts"]["li.wei"]["groups"].append("sudo"), "extra sudo"),
    ("web-01", "ACC-02", lambda d: d["live"]["accounts"]["authorized_keys"]["li.wei"].pop(), "key not installed"),
    ("web-01", "ACC-03", lambda d: _append(d, "/etc/sudoers.d/60-pmops-duty-app_deployer", "%duty-app-deployer ALL=(ALL) ALL\n"),
     "60-pmops-duty-app_deployer"),
    ("web-01", "ACC-04", lambda d: d["live"]["accounts"]["sudoers_d"].append("zz-stray"), "zz-stray"),
    ("web-01", "ACC-04", lambda d: d["live"]["accounts"]["authorized_keys"]["li.wei"].append(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBAD mallory@evil"), "mallory@evil"),
    # wang.fang's duty (dba) does not reach web-01: an account made for her by hand
    ("web-01", "ACC-05", lambda d: _account(d, "wang.fang", 2003, groups=["wang.fang", "pmops-people"]),
     "wang.fang: access revoked, but the account is not locked"),
    ("web-01", "ACC-06", lambda d: _account(d, "toor", 0, "/bin/sh", groups=["root"]), "toor (uid 0): uid 0"),
    ("web-01", "ACC-06", lambda d: _account(d, "eve", 1500), "eve (uid 1500): login shell /bin/bash"),
    ("web-01", "ACC-06", lambda d: _account(d, "svc", 150, "/usr/sbin/nologin", "locked", ["svc", "shadow"]), "in shadow"),
    ("web-01", "SSH-11", lambda d: _sshd(d, "loglevel", "QUIET"), "loglevel"),
    ("monitor-01", "ACC-07", lambda d: d["live"]["accounts"]["databases"]["passwd"].append(["www2", 33, 33, True]),
     "uid 33 shared by www-data, www2"),
    ("db-01", "ACC-07", lambda d: d["live"]["accounts"]["databases"]["group"].append(["wheel", 0, []]), "group wheel has gid 0"),
    ("web-01", "MAL-01", lambda d: _set(d, ["live", "units", "pmops-malware-scan.timer", "active"], "inactive"),
     "pmops-malware-scan.timer: inactive, wanted active"),
    ("app-01", "MAL-01", lambda d: _set(d, ["live", "listings", "/var/lib/pmops-quarantine", "invoice.pdf.exe"],
                                        {"exists": True, "type": "file", "owner": "root", "mode": "0644"}),
     "1 file(s) quarantined, waiting for a person's review: invoice.pdf.exe"),
    ("db-01", "MAL-01", lambda d: _file(d, MALWARE_PROM, d["live"]["files"][MALWARE_PROM]["content"]
                                        .replace("pmops_malware_scan_last_run_success 1", "pmops_malware_scan_last_run_success 0")),
     "the last scan failed"),
    ("backup-01", "MAL-01", lambda d: _set(d, ["live", "listings", "/var/lib/clamav"], {}),
     "/var/lib/clamav: no signature file: the scanner finds nothing"),
    ("monitor-01", "MAL-01", lambda d: _set(d, ["live", "units", "clamav-freshclam.service", "active"], "active"),
     "clamav-freshclam.service: active, but no mirror is set"),
    ("web-01", "ACC-08", lambda d: _file(d, "/etc/pam.d/sshd", d["live"]["files"]["/etc/pam.d/sshd"]["content"]
                                         .replace("@include pmops-otp\n", "")),
     "'@include pmops-otp' is not before '@include common-auth'"),
    ("app-01", "ACC-08", lambda d: _set(d, ["live", "sshd", "per_user", "li.wei", "authenticationmethods"], "any"),
     "li.wei: sshd asks any, wanted publickey,keyboard-interactive:pam"),
    ("db-01", "ACC-08", lambda d: d["live"]["accounts"]["accounts"]["pmops"]["groups"].append("pmops-2fa"),
     "pmops (the automation account) is in pmops-2fa"),
    ("backup-01", "ACC-08", lambda d: _file(d, "/etc/pam.d/pmops-otp", d["live"]["files"]["/etc/pam.d/pmops-otp"]["content"]
                                            .replace("user=root", "user=root nullok")),
     "/etc/pam.d/pmops-otp: "),
    # an empty password is ACC-06's on an unknown account and ACC-07's on any (CIS 7.2.2)
    ("web-01", "ACC-06+ACC-07", lambda d: _account(d, "nopw", 151, "/usr/sbin/nologin", "none"), "no password needed"),
    ("backup-01", "BKP-02", lambda d: d["live"]["accounts"]["authorized_keys"]["bk-web-01"].append(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBAD backdoor"), "bk-web-01: 2 keys"),
    ("web-01", "BASE-01", lambda d: _set(d, ["live", "units", "chrony.service", "active"], "inactive"), "chrony.service"),
    ("web-01", "BASE-02", lambda d: _file(d, "/etc/systemd/journald.conf.d/60-pmops.conf", "[Journal]\nStorage=volatile\n"),
     "Storage=persistent"),
    ("web-01", "BASE-03", lambda d: _file(d, "/etc/ansible/facts.d/asset.fact", '{"tier": "db"}'), "tier is 'db'"),
    ("web-01", "HARD-01", lambda d: _file(d, "/etc/sysctl.d/60-pmops-hardening.conf", ""), "kernel.kptr_restrict"),
    ("web-01", "HARD-02", lambda d: _append(d, "/etc/login.defs", "PASS_MAX_DAYS 99999\n"), "PASS_MAX_DAYS 99999"),
    ("web-01", "HARD-03", lambda d: _file(d, "/etc/systemd/coredump.conf.d/60-pmops.conf", "[Coredump]\n"), "Storage=none"),
    ("web-01", "HARD-04", lambda d: _set(d, ["live", "probes", "login_shell", "out"], "0022\n\n0\n"), "umask is 0022"),
    ("web-01", "HARD-05", lambda d: _set(d, ["live", "probes", "sudoers_valid"], {"rc": 1, "out": "parse error"}), "visudo"),
    ("web-01", "HARD-06", lambda d: _set(d, ["live", "files", "/etc/cron.deny"], {"exists": True, "content": ""}), "cron.deny"),
    ("web-01", "HARD-07", lambda d: _file(d, "/etc/issue", "Debian GNU/Linux 12 \\n \\l\n"), "/etc/issue"),
    ("web-01", "HARD-07", lambda d: _set(d, ["live", "files", "/etc/motd", "mode"], "0666"), "/etc/motd: root root 0666, wanted root root 0644"),
    ("web-01", "HARD-08", lambda d: _file(d, "/etc/modprobe.d/60-pmops-blacklist.conf", ""), "can load"),
    ("web-01", "HARD-09", lambda d: _set(d, ["live", "files", "/etc/shadow", "mode"], "0644"), "/etc/shadow"),
    ("web-01", "HARD-10", lambda d: _set(d, ["live", "packages", "telnet"], "0.17+2.4"), "telnet"),
    ("web-01", "HARD-11", lambda d: _set(d, ["live", "units", "apt-daily-upgrade.timer", "calendar"], "*-*-* 6,18:00"),
     "wanted the window"),
    ("db-01", "HARD-12", lambda d: _file(d, "/etc/security/pwquality.conf", d["live"]["files"]["/etc/security/pwquality.conf"]
                                         ["content"].replace("difok = 5", "difok = 1")),
     "/etc/security/pwquality.conf: difok = 1, wanted 5"),
    ("app-01", "HARD-12", lambda d: _file(d, "/etc/pam.d/common-password", d["live"]["files"]["/etc/pam.d/common-password"]
                                          ["content"].replace("yescrypt", "sha512 remember=5")),
     "pam_unix.so keeps its own history (remember=5)"),
    ("monitor-01", "HARD-12", lambda d: _file(d, "/etc/security/faillock.conf", d["live"]["files"]["/etc/security/faillock.conf"]
                                              ["content"].replace("unlock_time = 900", "unlock_time = 0")),
     "/etc/security/faillock.conf: unlock_time = 0, wanted 900"),
    ("backup-01", "HARD-12", lambda d: _set(d, ["live", "files", "/var/cache/cracklib/cracklib_dict.pwd"], {"exists": False}),
     "pwquality's dictionary check refuses every new password"),
    ("web-01", "HARD-12", lambda d: _file(d, "/etc/pam.d/common-auth", "auth [success=1 default=ignore] pam_unix.so nullok\n"),
     "pam_faillock.so preauth"),
    ("web-01", "HARD-13", lambda d: _file(d, "/etc/audit/rules.d/50-pmops.rules", ""), "-k identity"),
    ("web-01", "HARD-15", lambda d: _set(d, ["live", "packages", "acct"], None), "acct is not installed"),
    ("web-01", "HARD-16", lambda d: _set(d, ["live", "probes", "setid_scan", "out"], "setid /tmp/.x/sh\n"), "/tmp/.x/sh"),
    ("web-01", "HARD-17", lambda d: _set(d, ["live", "units", "cups"], {"active": "active"}), "cups is running"),
    ("db-01", "BKP-03", lambda d: _set(d, ["live", "units", "pmops-restore-drill.timer", "enabled"], "disabled"),
     "pmops-restore-drill.timer"),
    ("db-01", "DB-01", lambda d: _pg(d, "hba", lambda h: [{"type": "host", "database": ["all"], "user": ["all"],
                                                          "address": "0.0.0.0", "netmask": "0.0.0.0", "method": "trust",
                                                          "error": None}] + h),
     "admitted but not in the policy: host all all 0.0.0.0/0 trust"),
    ("db-01", "DB-01", lambda d: _pg(d, "settings", lambda s: dict(s, ssl="off")), "ssl = off in force, wanted on"),
    ("db-01", "DB-01", lambda d: _pg(d, "connections", lambda c: c + [{"user": "marketing_portal", "address": "10.89.30.21",
                                                                      "ssl": False}]), "without TLS"),
    ("db-01", "DB-02", lambda d: _pg(d, "roles", lambda r: r + [{"name": "backdoor", "superuser": True, "login": True}]),
     "role backdoor is a superuser"),
    ("web-01", "WEB-01", lambda d: _nginx(d, "\nserver_tokens off;", "\nserver_tokens on;"), "server_tokens is not off"),
    ("web-01", "WEB-01", lambda d: _nginx(d, "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1 TLSv1.2 TLSv1.3;"),
     "ssl_protocols TLSv1 TLSv1.2 TLSv1.3"),
    ("web-01", "WEB-01", lambda d: _nginx(d, "location = /metrics {", "location = /metrics { add_header X-Debug 1;"),
     "an add_header in a location drops the server's"),
    ("web-01", "WEB-01", lambda d: _set(d, ["live", "units", "nginx.service", "active"], "failed"), "nginx.service: failed"),
    ("app-01", "APP-01", lambda d: _set(d, ["live", "unit_properties", "marketing-portal.service", "NoNewPrivileges"], "no"),
     "NoNewPrivileges=no in force, wanted NoNewPrivileges=yes"),
    ("app-01", "APP-02", lambda d: _set(d, ["live", "env_files", "/etc/marketing-portal/marketing-portal.env", "values",
                                          "PORTAL_DB_SSLMODE"], "prefer"), "PORTAL_DB_SSLMODE=prefer"),
    ("app-01", "APP-02", lambda d: _set(d, ["live", "files", "/etc/marketing-portal/marketing-portal.env", "mode"], "0644"),
     "root portal 0644"),
    ("web-01", "NET-02", lambda d: d["live"]["sockets"].append({"proto": "tcp", "address": "0.0.0.0", "port": 4444,
                                                                 "process": "nc"}),
     "tcp 0.0.0.0:4444 (nc) listens, but the tier policy opens no such port"),
    ("db-01", "MON-01", lambda d: _set(d, ["live", "units", "prometheus-node-exporter.service", "active"], "inactive"),
     "prometheus-node-exporter.service: inactive, wanted active"),
    ("db-01", "MON-01", lambda d: _set(d, ["live", "units", "prometheus-postgres-exporter.service", "enabled"], "disabled"),
     "prometheus-postgres-exporter.service: disabled"),
    ("monitor-01", "MON-01", lambda d: _target(d, "node", "db-01", health="down", error="connection refused"),
     "node target db-01 (https://db-01:9100/metrics): down: connection refused"),
    ("monitor-01", "MON-01", lambda d: _set(d, ["live", "monitor", "targets"], [
        t for t in d["live"]["monitor"]["targets"] if (t["job"], t["host"]) != ("portal", "app-02")]),
     "portal target app-02: Prometheus does not scrape it"),
    ("monitor-01", "MON-01", lambda d: d["live"]["monitor"]["rules"].pop("HostDown"), "Prometheus has no alert HostDown loaded"),
    ("monitor-01", "MON-01", lambda d: _set(d, ["live", "monitor", "alertmanagers"], []), "to no Alertmanager"),
    ("web-01", "MON-02", lambda d: _set(d, ["live", "endpoints", "node-exporter", "status"], 200),
     "node-exporter (:9100) answers a stranger over TLS without a client certificate (HTTP 200)"),
    ("monitor-01", "MON-02", lambda d: _target(d, "postgres", "db-01", scrape_url="http://db-01:9187/metrics"),
     "postgres target db-01 is scraped in the clear"),
    ("monitor-01", "MON-02", lambda d: _set(d, ["live", "monitor", "alertmanager_anonymous"], 200),
     "Alertmanager's API answers a stranger without the password (HTTP 200, wanted 401)"),
    ("web-01", "MON-03", lambda d: _drop_metric(d, SECURITY_PROM, "pmops_login_failures_total"), "no pmops_login_failures_total"),
    ("monitor-01", "MON-03", lambda d: d["live"]["monitor"]["rules"].pop("LoginFailures"), "no alert LoginFailures loaded"),
    ("monitor-01", "MON-03", lambda d: _set(d, ["live", "monitor", "alertmanager_receivers"], []), "alarms reach nobody"),
    ("web-01", "MON-04", lambda d: _drop_metric(d, SECURITY_PROM, "pmops_security_updates_pending"),
     "no pmops_security_updates_pending"),
    ("monitor-01", "MON-04", lambda d: _set(d, ["live", "monitor", "rules", "SecurityUpdatesPending"], "err"),
     "alert SecurityUpdatesPending: rule health err"),
    ("db-01", "MON-05", _backups_stopped, "backup: the newest success (or the enrolment) is 48.0 h old, over 26 h"),
    ("monitor-01", "MON-05", lambda d: d["live"]["monitor"]["rules"].pop("BackupStale"), "no alert BackupStale loaded"),
    # issue 16's CIS Level 1 remainder
    ("web-01", "HARD-02", lambda d: _set(d, ["live", "accounts", "accounts", "root", "password"], "locked"),
     "root: password locked, wanted one set"),
    ("app-01", "HARD-02", lambda d: _set(d, ["live", "accounts", "accounts", "li.wei", "changed"], 99999),
     "li.wei: password last changed on 2243-10-16, a day in the future"),
    ("db-01", "HARD-02", lambda d: _file(d, "/etc/default/useradd", "SHELL=/bin/sh\nINACTIVE=-1\n"), "INACTIVE=-1, wanted 45"),
    ("monitor-01", "HARD-02", lambda d: _set(d, ["live", "accounts", "accounts", "root", "inactive"], None),
     "root: not locked 45 days after the password expires (inactive never)"),
    ("web-01", "HARD-05", lambda d: _set(d, ["live", "accounts", "groups", "pmops-su", "members"], ["li.wei"]),
     "group pmops-su has members (li.wei): they may use su"),
    ("app-01", "HARD-05", lambda d: _set(d, ["live", "probes", "sudo_noauth"], {"rc": 0, "out": "/etc/sudoers:30:Defaults !authenticate\n"}),
     "sudoers turns re-authentication off: /etc/sudoers:30:Defaults !authenticate"),
    ("db-01", "HARD-05", lambda d: _file(d, "/etc/pam.d/su", "auth sufficient pam_rootok.so\n"), "pam_wheel.so use_uid group=pmops-su"),
    ("web-01", "HARD-08", lambda d: _set(d, ["live", "probes", "wireless"], {"rc": 0, "out": "wlan0 iwlwifi\n"}),
     "wireless interface wlan0: its driver iwlwifi can load"),
    ("web-01", "HARD-10", lambda d: _set(d, ["live", "packages", "apparmor"], None), "package apparmor is not installed"),
    ("app-01", "HARD-12", lambda d: _set(d, ["live", "probes", "pam_version"], {"rc": 0, "out": "old libpam-runtime 1.5.2-5\n"}),
     "libpam-runtime 1.5.2-5 is older than 1.5.2-6"),
    ("db-01", "HARD-16", lambda d: _set(d, ["live", "probes", "log_scan"], {"rc": 0, "out": "644 root root /var/log/dpkg.log\n"}),
     "/var/log/dpkg.log: mode 644, wanted 640 or stricter"),
    ("app-01", "HARD-17", lambda d: _set(d, ["live", "units", "nginx"], {"active": "active"}), "nginx is running"),
    ("web-01", "HARD-19", lambda d: _set(d, ["live", "probes", "root_path"], {"rc": 0, "out": "/usr/bin:.\nroot 755 /usr/bin\n"}),
     "root's PATH has a relative entry: ."),
    ("db-01", "HARD-19", lambda d: _set(d, ["live", "probes", "root_path"], {"rc": 0, "out": "/opt/bin\npmops 775 /opt/bin\n"}),
     "root's PATH: /opt/bin is writable by its group or others (mode 775)"),
    ("web-01", "HARD-20", lambda d: _set(d, ["live", "probes", "apt_sources"], {"rc": 0, "out": (
        "/etc/apt/sources.list.d/vendor.list:deb [trusted=yes] http://vendor.example/apt stable main\n")}),
     "/etc/apt/sources.list.d/vendor.list: trusts unsigned packages"),
    ("app-01", "HARD-20", lambda d: _set(d, ["live", "probes", "apt_sources"], {"rc": 0, "out": (
        "legacy-keyring: /etc/apt/trusted.gpg\n")}), "a legacy keyring trusted for every source: /etc/apt/trusted.gpg"),
    ("web-01", "NET-03", lambda d: _set(d, ["live", "probes", "nft_tables"], {"rc": 0, "out": "table inet pmops\ntable ip filter\n"}),
     "table ip filter: a table beside the policy's (table inet pmops)"),
    ("db-01", "NET-02", lambda d: d["live"]["sockets"].append({"proto": "tcp", "address": "0.0.0.0", "port": 25, "process": "exim4"}),
     "a mail transfer agent listens on 0.0.0.0:25"),
    ("db-01", "ACC-06", lambda d: d["live"]["accounts"]["accounts"]["postgres"].update(shell="/bin/bash", login_shell=True),
     "postgres (uid 103): a system account with the login shell /bin/bash"),
    ("web-01", "ACC-07", lambda d: _set(d, ["live", "accounts", "homes", "li.wei", "mode"], "0755"),
     "li.wei: home /home/li.wei is mode 0755, wanted 0700"),
    ("app-01", "ACC-07", lambda d: _set(d, ["live", "accounts", "homes", "li.wei", "dotfiles", ".rhosts"],
                                        {"exists": True, "type": "file", "owner": "li.wei", "mode": "0600"}),
     "li.wei: /home/li.wei/.rhosts exists"),
    ("web-01", "BASE-01", lambda d: _set(d, ["live", "probes", "chronyd_user"], {"rc": 0, "out": "root\n"}),
     "chronyd runs as root, wanted _chrony"),
    ("monitor-01", "MON-06", lambda d: _set(d, ["live", "monitor", "flags", "storage.tsdb.retention.time"], "15d"),
     "storage.tsdb.retention.time='15d' in force, wanted at least 180d"),
    ("monitor-01", "MON-06", lambda d: _set(d, ["live", "monitor", "flags", "storage.tsdb.retention.size"], "0B"),
     "storage.tsdb.retention.size='0B' in force, wanted 8GiB"),
]


@pytest.mark.parametrize(("host", "control", "drift", "evidence"), DRIFTS,
                         ids=[f"{h}-{c}-{i}" for i, (h, c, _, _) in enumerate(DRIFTS)])
def test_each_drift_fails_exactly_its_control_with_evidence(host, control, drift, evidence):
    data = copy.deepcopy(sample(host))
    drift(data)
    results = verdicts(data)
    failing = {cid for cid, r in results.items() if r["status"] == "fail"}
    assert failing == set(control.split("+"))  # "A+B": a drift two controls must both see
    assert evidence in "\n".join(results[control.split("+")[0]]["evidence"])


def test_the_corpus_covers_every_control_pmops_checks_decides():
    assert {c for _, cs, _, _ in DRIFTS for c in cs.split("+")} == checks.controls_checked()
    assert len(DRIFTS) >= 30


def test_nginx_config_puts_each_include_back_where_it_stands():
    text = ("# configuration file /etc/nginx/nginx.conf:\nhttp {\n  include /etc/nginx/conf.d/*.conf;\n}\n"
            "# configuration file /etc/nginx/conf.d/a.conf:\nserver_tokens off;\nserver { listen 443 ssl; "
            "add_header X-A \"1; 2\" always; }\n")
    tree = checks.nginx_config(text)
    http = tree[0][2]
    assert http[0] == ("server_tokens", ["off"], None)
    assert http[1][0] == "server" and ("add_header", ["X-A", '"1; 2"', "always"], None) in http[1][2]


def test_nft_rules_reads_sets_prefixes_and_ranges_as_nft_prints_them():
    ruleset = [
        {"chain": {"name": "input", "hook": "input", "policy": "drop"}},
        {"set": {"name": "ssh_from_v4", "elem": [{"prefix": {"addr": "10.0.0.0", "len": 8}}, "192.0.2.1"]}},
        {"rule": {"chain": "input", "expr": [
            {"match": {"left": {"payload": {"protocol": "tcp", "field": "dport"}}, "op": "==", "right": {"range": [8000, 8080]}}},
            {"match": {"left": {"payload": {"protocol": "ip", "field": "saddr"}}, "op": "==",
                       "right": {"set": ["10.1.1.2", "10.1.1.1"]}}},
            {"counter": {"packets": 4, "bytes": 240}}, {"accept": None}], "comment": "x"}},
    ]
    assert checks.nft_rules(ruleset) == {
        "input": ["hook input policy drop", 'tcp dport 8000-8080 ip saddr { 10.1.1.1, 10.1.1.2 } accept comment "x"'],
        "sets": ["set ssh_from_v4 = { 10.0.0.0/8, 192.0.2.1 }"]}


def test_rules_loaded_in_another_order_are_drift():
    data = copy.deepcopy(sample("web-01"))
    rules = [e for e in data["live"]["nftables"]["ruleset"] if "rule" in e and e["rule"]["chain"] == "input"]
    a, b = rules[0]["rule"], rules[1]["rule"]
    a["expr"], b["expr"] = b["expr"], a["expr"]
    assert "another order" in " ".join(checks.run_checks(data["wanted"], data["live"])["NET-01"])


@pytest.mark.parametrize(("account", "reasons"), [
    ({"uid": 4, "shell": "/bin/sync", "login_shell": True, "password": "locked", "groups": ["nogroup"]}, []),
    ({"uid": 103, "shell": "/bin/bash", "login_shell": True, "password": "locked", "groups": ["postgres"]}, []),
    ({"uid": 103, "shell": "/bin/bash", "login_shell": True, "password": "locked", "groups": ["postgres"], "keys": True},
     ["login shell /bin/bash and authorized keys"]),
    ({"uid": 1500, "shell": "/bin/bash", "login_shell": True, "password": "locked", "groups": ["x"]}, ["login shell /bin/bash"]),
    ({"uid": 1500, "shell": "/bin/bash", "login_shell": True, "password": "set", "groups": ["x"], "expires": 1}, []),
    ({"uid": 0, "shell": "/usr/sbin/nologin", "login_shell": False, "password": "locked", "groups": ["root"]},
     ["uid 0", "in root"]),
])
def test_unknown_account_reasons(account, reasons):
    assert checks.unknown_account_reasons(account, account.pop("keys", False)) == reasons


def test_revoked_people_must_be_locked_without_keys_or_groups():
    data = copy.deepcopy(sample("web-01"))
    data["wanted"]["access_wanted"]["revoked"].append("old.admin")
    _account(data, "old.admin", 2099, groups=["old.admin", "pmops-people"])
    data["live"]["accounts"]["authorized_keys"]["old.admin"] = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLD old"]
    problems = checks.run_checks(data["wanted"], data["live"])["ACC-05"]
    assert any("not locked" in p for p in problems) and any("authorized key" in p for p in problems)
    assert any("pmops-people" in p for p in problems)
    assert checks.run_checks(data["wanted"], data["live"])["ACC-06"] == [], "a revoked person is ACC-05's, not ACC-06's"


def test_a_stale_security_textfile_fails_both_controls_it_carries():
    data = copy.deepcopy(sample("web-01"))
    _set(data, ["live", "files", SECURITY_PROM, "mtime"], int(data["live"]["now"]) - 3600)
    results = verdicts(data)
    assert {c for c, r in results.items() if r["status"] == "fail"} == {"MON-03", "MON-04"}
    assert "written 60 min ago (at most 10 min): its collector stopped" in results["MON-03"]["evidence"][0]


def test_the_monitor_not_answering_is_named():
    data = copy.deepcopy(sample("monitor-01"))
    data["live"]["monitor"] = {"errors": ["https://monitor-01:9090/api/v1/targets?state=active: connection refused"],
                               "targets": [], "rules": {}, "flags": {}, "alertmanagers": []}
    results = verdicts(data)
    assert "monitor API: https://monitor-01:9090/api/v1/targets?state=active: connection refused" in results["MON-01"]["evidence"]
    assert results["MON-06"]["status"] == "fail"


@pytest.mark.parametrize(("text", "seconds"), [("180d", 180 * 86400), ("1h30m", 5400), ("2w", 14 * 86400), ("500ms", 0.5),
                                               ("180", None), ("", None), ("1d foo", None)])
def test_prometheus_durations(text, seconds):
    assert checks.duration_seconds(text) == seconds


def test_a_file_drift_fails_even_where_the_kernel_control_is_not_applicable():
    data = copy.deepcopy(sample("web-01"))
    _file(data, "/etc/audit/rules.d/50-pmops.rules", "")
    assert verdicts(data)["HARD-13"]["status"] == "fail"


def test_switched_off_features_are_not_checked():
    data = copy.deepcopy(sample("web-01"))
    data["wanted"]["hardening_wanted"]["enabled"]["banner"] = False
    _file(data, "/etc/issue", "anything")
    assert "HARD-07" not in checks.run_checks(data["wanted"], data["live"])


def test_evaluate_reads_the_live_play_events_and_joins_check_mode_results():
    data = sample("web-01")
    events = [{"host": "web-01", "task": "x", "tags": [], "status": "ok", "wanted": data["wanted"]},
              {"host": "web-01", "task": "Read the live state", "tags": ["pmops_live"], "status": "ok", "live": data["live"]}]
    live = checks.evaluate(events)
    assert live["web-01"]["SSH-01"] == {"status": "pass", "evidence": []}
    drifted = copy.deepcopy(data)
    _sshd(drifted, "permitrootlogin", "yes")
    events[1]["live"] = drifted["live"]
    listed = [{"id": "SSH-01"}, {"id": "HARD-13"}, {"id": "HARD-14"}]
    report = controls.evaluate(events, listed, ["web-01"])["web-01"]["controls"]
    assert report["SSH-01"]["status"] == "fail" and report["SSH-01"]["live"] == "fail"
    assert report["SSH-01"]["evidence"] == ["in force: permitrootlogin: effective yes, wanted no"]
    assert report["HARD-13"]["status"] == "not_applicable"
    assert report["HARD-14"]["status"] == "not_checked", "no live check: testinfra decides it"


def test_the_filter_gives_roles_the_same_verdict():
    sys.path.insert(0, str(ROOT / "filter_plugins"))
    from pmops_checks import pmops_drift, pmops_unknown_accounts
    data = copy.deepcopy(sample("web-01"))
    _nft_rule(data, 23)
    _account(data, "eve", 1500)
    assert pmops_drift(data["live"], data["wanted"], "NET-01") == [
        "input: loaded but not in the policy: tcp dport 23 accept"]
    assert pmops_unknown_accounts(data["live"], data["wanted"]) == ["eve"]
    with pytest.raises(Exception, match="no check in force for control 'HARD-14'"):
        pmops_drift(data["live"], data["wanted"], "HARD-14")
    from pmops_checks import pmops_unknown_db_roles
    db = copy.deepcopy(sample("db-01"))
    _pg(db, "roles", lambda r: r + [{"name": "backdoor", "superuser": False, "login": True}])
    assert pmops_unknown_db_roles(db["live"], db["wanted"]) == ["backdoor"]


def test_notes_are_evidence_never_a_failure():
    assert checks.verdict(["x drifted", checks.NOTE, "li.wei: enrolled"]) == \
        {"status": "fail", "evidence": ["x drifted", "li.wei: enrolled"]}
    assert checks.verdict([checks.NOTE, "li.wei: enrolled"]) == {"status": "pass", "evidence": ["li.wei: enrolled"]}


def test_each_administrators_enrolment_is_evidence_and_a_loose_secret_fails():
    data = copy.deepcopy(sample("web-01"))
    secrets = data["live"]["listings"]["/var/lib/pmops-otp"]
    secrets["li.wei"] = {"exists": True, "type": "file", "owner": "root", "group": "root", "mode": "0400",
                         "mtime": 1796169600}
    result = verdicts(data)["ACC-08"]
    assert result["status"] == "pass"
    assert "li.wei: enrolled (secret of 2026-12-02)" in result["evidence"]
    assert "zhang.min: not enrolled - cannot log in here until `pmops otp enrol zhang.min`" in result["evidence"]
    secrets["li.wei"]["mode"] = "0644"
    result = verdicts(data)["ACC-08"]
    assert result["status"] == "fail" and "/var/lib/pmops-otp/li.wei: root 0644, wanted root 0400" in result["evidence"]


def test_the_last_scan_and_the_signatures_are_evidence_of_malicious_code_prevention():
    result = verdicts(sample("web-01"))["MAL-01"]
    assert result["status"] == "pass"
    text = "\n".join(result["evidence"])
    assert "signature updates: none (antimalware_mirror is not set)" in text
    assert "signature files: pmops-selftest.hdb" in text and "0 found" in text


def test_with_a_mirror_old_signatures_and_a_stopped_freshclam_fail():
    data = copy.deepcopy(sample("web-01"))
    data["wanted"]["antimalware_wanted"].update(updates=True, mirror="http://mirror.example.internal")
    data["live"]["listings"]["/var/lib/clamav"]["pmops-selftest.hdb"]["mtime"] = data["live"]["now"] - 4 * 86400
    problems = " ".join(verdicts(data)["MAL-01"]["evidence"])
    assert "clamav-freshclam.service: " in problems and "no 'PrivateMirror http://mirror.example.internal'" in problems
    assert "over 3 days ago: updates from http://mirror.example.internal stopped" in problems


def test_password_fixes_name_the_unaged_and_the_future_dated():
    accounts = {"root": {"password": "set", "max": 99999, "min": 0, "warn": 7, "inactive": None, "changed": 20000},
                "li.wei": {"password": "set", "max": 90, "min": 1, "warn": 14, "inactive": 45, "changed": 20000},
                "eve": {"password": "locked", "max": None, "changed": 30000}}
    live = {"accounts": {"accounts": accounts}, "now": 20001 * 86400}
    assert checks.password_fixes(live, {"max": 90, "min": 1, "warn": 14}, 45) == \
        {"age": ["root"], "restart": [], "future": ["eve"], "today": 20001}
    # a password older than the new maximum starts its clock today instead of expiring at once
    live["now"] = (20000 + 200) * 86400
    assert checks.password_fixes(live, {"max": 90, "min": 1, "warn": 14}, 45)["restart"] == ["root"]


def test_the_automation_account_keeps_its_shell_whatever_its_uid():
    accounts = {"pmops": {"uid": 999, "login_shell": True}, "postgres": {"uid": 103, "login_shell": True},
                "sync": {"uid": 4, "login_shell": True}, "www-data": {"uid": 33, "login_shell": False}}
    assert checks.system_login_shells({"accounts": {"accounts": accounts}}, "pmops") == ["postgres"]


def test_log_files_skip_finds_own_complaints():
    probe = {"rc": 1, "out": "find: '/var/log/journal/x/y.journal~': No such file or directory\n644 root root /var/log/z.log\n"}
    assert checks.log_files(probe) == ["/var/log/z.log: mode 644, wanted 640 or stricter"]


@pytest.mark.parametrize(("text", "approved", "found"), [
    ("/etc/apt/sources.list:deb http://deb.debian.org/debian bookworm main\n", ["http://deb.debian.org/debian"], []),
    ("/etc/apt/sources.list:deb http://deb.debian.org/debian/ bookworm main\n", ["http://deb.debian.org/debian"], []),
    ("/etc/apt/sources.list.d/x.sources:URIs: http://other.example/debian\n", ["http://deb.debian.org/debian"],
     ["/etc/apt/sources.list.d/x.sources: http://other.example/debian is not an approved repository (http://deb.debian.org/debian)"]),
    ("/etc/apt/sources.list.d/x.sources:Trusted: yes\n", [], ["/etc/apt/sources.list.d/x.sources: trusts unsigned packages: Trusted: yes"]),
    ("apt-config: APT::Get::AllowUnauthenticated \"true\";\n", [],
     ["apt lets unsigned packages in: APT::Get::AllowUnauthenticated \"true\";"]),
])
def test_apt_sources_want_signed_packages_from_the_approved_repositories(text, approved, found):
    assert checks.apt_sources(text, approved) == found


def test_root_path_refuses_empty_relative_and_open_directories():
    probe = {"rc": 0, "out": "/usr/sbin::bin:/opt/x\nroot 755 /usr/sbin\nroot 755 (empty)\nroot 777 /opt/x\n"}
    assert checks.root_path(probe) == [
        "root's PATH has an empty entry (the working directory): /usr/sbin::bin:/opt/x",
        "root's PATH has a relative entry: bin",
        "root's PATH: /opt/x is writable by its group or others (mode 777)"]


def test_log_files_allow_the_login_records_their_group():
    probe = {"rc": 0, "out": "664 root utmp /var/log/wtmp\n660 root utmp /var/log/btmp.1\n644 root root /var/log/dpkg.log\n"
                             "666 root utmp /var/log/lastlog\n"}
    assert checks.log_files(probe) == ["/var/log/dpkg.log: mode 644, wanted 640 or stricter",
                                       "/var/log/lastlog: mode 666, wanted 664 or stricter"]


def test_home_fixes_leave_system_accounts_to_acc_06():
    state = {"accounts": {"li.wei": {"uid": 2001, "home": "/home/li.wei"}, "postgres": {"uid": 103, "home": "/var/lib/postgresql"}},
             "homes": {"li.wei": {"type": "directory", "owner": "li.wei", "mode": "0750",
                                  "dotfiles": {".netrc": {"type": "file", "mode": "0600"}, ".bashrc": {"type": "file", "mode": "0664"}}},
                       "postgres": {"type": "directory", "owner": "postgres", "mode": "0755", "dotfiles": {}}}}
    assert checks.home_fixes(state) == {"homes": [{"login": "li.wei", "path": "/home/li.wei"}],
                                        "remove": ["/home/li.wei/.netrc"], "close": ["/home/li.wei/.bashrc"]}
