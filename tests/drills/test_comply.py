"""Compliance runs (`pmops comply`), applies and their history on the converged lab:
the drift corpus (over 30 drifts on six hosts) caught by exactly the right controls, with
evidence, and nothing changed by the run; apply heals every one (each probed), the lab is
compliant again with no false alarm (exit 0), and the apply is in the history; waived and
expired exceptions; a stopped host is unreachable; the HTML report renders in headless
Chromium. (Plans: tests/drills/test_plan.py, in a lane.)

These drills run first among the drills (conftest.py): the first comply must see the lab as
the converge left it plus the corpus's drifts, and nothing else."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

import drillkit
from drillkit import ROOT, as_root, lab
# What a run must not change: every file under /etc and the firewall's state.
STATE = "{ find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum; nft list ruleset; " \
        "systemctl is-active nftables; } | sha256sum"
NOT_COMPLIANT = ("fail", "error", "unreachable")


def pmops(*args: str, state: Path | None = None, timeout: int = 1200) -> subprocess.CompletedProcess:
    return drillkit.pmops(*args, timeout=timeout, state=state)[0]


def comply(reports: Path, *args: str, inventory: str = "inventory/lab") -> tuple[int, dict, str]:
    proc = pmops("comply", "-i", inventory, "--reports", str(reports), *args)
    runs = sorted(reports.glob("*/report.json"))
    report = json.loads(runs[-1].read_text()) if runs else {}
    return proc.returncode, report, proc.stdout + proc.stderr


def failing(report: dict) -> set[tuple[str, str]]:
    return {(host, cid) for host, data in report["hosts"].items() for cid, r in data["controls"].items()
            if r["status"] in NOT_COMPLIANT}


def assert_compliant_and_reported(reports: Path, report: dict) -> None:
    assert report["summary"]["compliant"] and report["summary"]["changed_nothing"]
    hosts = report["hosts"]
    assert len(hosts) == 6 and all(h["score"] == 100.0 for h in hosts.values())
    run = sorted(reports.glob("*/"))[-1]
    junit = ET.parse(run / "junit.xml").getroot()
    assert int(junit.get("tests")) == 6 * report["summary"]["controls"]
    assert junit.get("failures") == "0" and junit.get("errors") == "0"
    assert (run / "report.html").stat().st_size > 0


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reports")


# The drift corpus on the lab: what an intruder, a hurried administrator or a package upgrade
# leaves behind, one (host, control) each, so that one compliance run catches them all:
# host, control that must fail, who, what, the command that makes it, the probe (exit 0)
# that proves `pmops apply` put it right. tests/unit/test_checks.py holds the same kinds of
# drift at unit level, for every control the state in force decides.
SSHD = "/etc/ssh/sshd_config"
# The commands that make an account, a role or a unit first remove what an earlier, interrupted
# run of this drill left (`userdel ... || true`, `DROP ROLE IF EXISTS`, `systemctl stop ... ||
# true`): deliberate, so that a re-run on the same lab makes the same drift instead of failing.
CORPUS = [
    ("web-01", "SSH-01", "admin", "root may log in", f"sed -i 's/^PermitRootLogin no/PermitRootLogin yes/' {SSHD}",
     "sshd -T | grep -qx 'permitrootlogin no'"),
    ("web-01", "SSH-09", "admin", "sshd_config readable by all", f"chmod 0644 {SSHD}", f"test $(stat -c %a {SSHD}) = 600"),
    ("web-01", "NET-01", "admin", "a port opened by hand in the loaded rules",
     "nft insert rule inet pmops input tcp dport 8443 accept", "! nft list chain inet pmops input | grep -q 'dport 8443'"),
    ("web-01", "ACC-01", "admin", "a deployer added to sudo", "usermod -aG sudo zhang.min", "! id -nG zhang.min | grep -qw sudo"),
    ("web-01", "HARD-07", "upgrade", "the distribution's /etc/issue back", "echo 'Debian GNU/Linux 12 \\n \\l' > /etc/issue",
     "grep -q 'Authorised access only' /etc/issue"),
    ("web-01", "WEB-01", "upgrade", "nginx names its version again",
     "sed -i 's/^server_tokens off;/server_tokens on;/' /etc/nginx/conf.d/pmops-portal.conf",
     "grep -q '^server_tokens off;' /etc/nginx/conf.d/pmops-portal.conf"),
    ("web-01", "HARD-14", "admin", "the daily integrity check switched off", "systemctl disable --now pmops-aide-check.timer",
     "systemctl is-enabled -q pmops-aide-check.timer"),
    ("app-01", "ACC-04", "intruder", "a sudoers file of its own",
     "printf 'intruder ALL=(ALL) NOPASSWD: ALL\\n' > /etc/sudoers.d/zz-stray && chmod 0440 /etc/sudoers.d/zz-stray",
     "! test -e /etc/sudoers.d/zz-stray"),
    ("app-01", "SSH-07", "admin", "TCP forwarding for a tunnel", f"sed -i 's/^AllowTcpForwarding no/AllowTcpForwarding yes/' {SSHD}",
     "sshd -T | grep -qx 'allowtcpforwarding no'"),
    ("app-01", "SSH-04", "upgrade", "an ECDSA host key made again", "ssh-keygen -q -t ecdsa -N '' -f /etc/ssh/ssh_host_ecdsa_key",
     "! test -e /etc/ssh/ssh_host_ecdsa_key"),
    ("app-01", "HARD-02", "admin", "passwords that never age", "sed -i 's/^PASS_MAX_DAYS.*/PASS_MAX_DAYS 99999/' /etc/login.defs",
     "! grep -q '^PASS_MAX_DAYS 99999' /etc/login.defs"),
    ("app-01", "BASE-01", "admin", "time sync stopped", "systemctl stop chrony", "systemctl is-active -q chrony"),
    ("app-01", "ACC-08", "admin", "the second factor taken out of sshd's PAM service",
     "sed -i '/^@include pmops-otp/d' /etc/pam.d/sshd", "grep -qx '@include pmops-otp' /etc/pam.d/sshd"),
    ("app-01", "APP-01", "admin", "the sandbox loosened by a drop-in",
     "mkdir -p /etc/systemd/system/marketing-portal.service.d && printf '[Service]\\nNoNewPrivileges=no\\n' "
     "> /etc/systemd/system/marketing-portal.service.d/override.conf && systemctl daemon-reload",
     "! test -e /etc/systemd/system/marketing-portal.service.d/override.conf "
     "&& systemctl show -P NoNewPrivileges marketing-portal | grep -qx yes"),
    ("app-02", "SSH-06", "admin", "unlimited password guesses", f"sed -i 's/^MaxAuthTries .*/MaxAuthTries 50/' {SSHD}",
     "! sshd -T | grep -qx 'maxauthtries 50'"),
    ("app-02", "ACC-06", "intruder", "an account of its own with a shell and a key",
     "(userdel -r eve 2>/dev/null || true) && useradd -m -s /bin/bash eve && mkdir -p /home/eve/.ssh && "
     "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2rHb5LwiDbM2gQ3c8nTFPXmE1BvdfxNZJ7rNcDmbqJ eve' > /home/eve/.ssh/authorized_keys",
     "test \"$(getent shadow eve | cut -d: -f8)\" -le 1 && ! test -e /home/eve/.ssh/authorized_keys && test -d /home/eve"),
    ("app-02", "HARD-06", "admin", "a cron deny list", "touch /etc/cron.deny", "! test -e /etc/cron.deny"),
    ("app-02", "APP-02", "admin", "the portal's secret readable by all", "chmod 0644 /etc/marketing-portal/marketing-portal.env",
     "test $(stat -c %a /etc/marketing-portal/marketing-portal.env) = 640"),
    ("app-02", "HARD-09", "admin", "/etc/shadow readable by all", "chmod 0644 /etc/shadow", "test $(stat -c %a /etc/shadow) = 640"),
    ("app-02", "HARD-12", "admin", "empty passwords accepted",
     "sed -i 's/pam_unix.so/pam_unix.so nullok/' /etc/pam.d/common-auth", "! grep -v '^#' /etc/pam.d/common-auth | grep -q nullok"),
    ("app-02", "HARD-18", "intruder", "log forwarding stopped", "systemctl stop syslog.socket rsyslog.service",
     "systemctl is-active -q rsyslog"),
    ("app-02", "HARD-13", "upgrade", "audit rules emptied", "truncate -s 0 /etc/audit/rules.d/50-pmops.rules",
     "grep -q -- '-k identity' /etc/audit/rules.d/50-pmops.rules"),
    ("db-01", "NET-01", "admin", "the firewall stopped (flushed)", "systemctl start nftables && systemctl stop nftables",
     "nft list chain inet pmops input >/dev/null"),
    ("db-01", "SSH-02", "admin", "password logins", f"sed -i 's/^PasswordAuthentication no/PasswordAuthentication yes/' {SSHD}",
     "sshd -T | grep -qx 'passwordauthentication no'"),
    ("db-01", "ACC-02", "admin", "a person's key removed", "truncate -s 0 /home/wang.fang/.ssh/authorized_keys",
     "test -s /home/wang.fang/.ssh/authorized_keys"),
    ("db-01", "ACC-03", "intruder", "a duty widened to everything",
     "echo '%duty-dba ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers.d/60-pmops-duty-dba",
     "! grep -q '(ALL) NOPASSWD: ALL' /etc/sudoers.d/60-pmops-duty-dba"),
    ("db-01", "HARD-04", "admin", "a permissive umask", "sed -i 's/^UMASK.*/UMASK 022/' /etc/login.defs",
     "grep -q '^UMASK\\s*027' /etc/login.defs"),
    ("db-01", "HARD-16", "intruder", "a set-uid shell", "install -m 4755 /bin/bash /usr/local/bin/.sh",
     "! test -u /usr/local/bin/.sh"),
    ("db-01", "DB-01", "admin", "a password login from anywhere",
     "sed -i '3i host all all 0.0.0.0/0 md5' /etc/postgresql/15/main/pg_hba.conf",
     "! grep -q md5 /etc/postgresql/15/main/pg_hba.conf"),
    ("db-01", "DB-02", "intruder", "a superuser of its own",
     "runuser -u postgres -- psql -XAtqc 'DROP ROLE IF EXISTS backdoor' && "
     "runuser -u postgres -- psql -XAtqc \"CREATE ROLE backdoor LOGIN SUPERUSER PASSWORD 'drill-only'\"",
     "runuser -u postgres -- psql -XAtc \"SELECT rolsuper OR rolcanlogin FROM pg_roles WHERE rolname = 'backdoor'\" | grep -qx f"),
    ("db-01", "BKP-03", "admin", "the restore drill switched off", "systemctl disable --now pmops-restore-drill.timer",
     "systemctl is-enabled -q pmops-restore-drill.timer"),
    ("db-01", "MON-01", "admin", "the node exporter stopped (monitoring blind to the host)",
     "systemctl stop prometheus-node-exporter", "systemctl is-active -q prometheus-node-exporter"),
    ("backup-01", "BKP-02", "intruder", "a second key on a backup account",
     "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2rHb5LwiDbM2gQ3c8nTFPXmE1BvdfxNZJ7rNcDmbqJ x' "
     ">> /srv/pmops-backup/bk-web-01/.ssh/authorized_keys",
     "test $(wc -l < /srv/pmops-backup/bk-web-01/.ssh/authorized_keys) = 1"),
    ("backup-01", "SSH-08", "admin", "no login banner", f"sed -i 's|^Banner .*|Banner none|' {SSHD}",
     "sshd -T | grep -qx 'banner /etc/issue.net'"),
    ("backup-01", "SSH-11", "admin", "sshd logging turned down", f"sed -i 's/^LogLevel .*/LogLevel QUIET/' {SSHD}",
     "sshd -T | grep -qx 'loglevel VERBOSE'"),
    ("backup-01", "HARD-03", "upgrade", "core dumps kept again", "rm /etc/systemd/coredump.conf.d/60-pmops.conf",
     "grep -q Storage=none /etc/systemd/coredump.conf.d/60-pmops.conf"),
    ("backup-01", "BASE-02", "upgrade", "a volatile journal",
     "sed -i 's/^Storage=.*/Storage=volatile/' /etc/systemd/journald.conf.d/60-pmops.conf",
     "grep -q Storage=persistent /etc/systemd/journald.conf.d/60-pmops.conf"),
    ("backup-01", "MAL-01", "admin", "the daily malware scan switched off", "systemctl disable --now pmops-malware-scan.timer",
     "systemctl is-enabled -q pmops-malware-scan.timer && systemctl is-active -q pmops-malware-scan.timer"),
    ("backup-01", "HARD-05", "admin", "sudo without a pseudo-terminal", "sed -i '/use_pty/d' /etc/sudoers.d/10-pmops-defaults",
     "grep -q use_pty /etc/sudoers.d/10-pmops-defaults"),
    ("monitor-01", "ACC-06", "intruder", "a second uid 0 with a password",
     "sed -i '/^toor:/d' /etc/passwd /etc/shadow && useradd -o -u 0 -g 0 -M -d /nonexistent -s /bin/sh toor "
     "&& usermod -p '$6$pmops$drill' toor",
     "test \"$(getent shadow toor | cut -d: -f8)\" -le 1 && getent passwd toor | grep -q nologin"),
    ("monitor-01", "ACC-05", "admin", "an account made again for someone revoked here",
     "(userdel -r wang.fang 2>/dev/null || true) && useradd -m -u 2003 -s /bin/bash -G pmops-people wang.fang",
     "test \"$(getent shadow wang.fang | cut -d: -f8)\" -le 1 && ! id -nG wang.fang | grep -qw pmops-people"),
    ("monitor-01", "SSH-03", "admin", "a CBC cipher for an old client", f"sed -i 's/^Ciphers .*/&,aes128-cbc/' {SSHD}",
     "! sshd -T | grep -q aes128-cbc"),
    ("monitor-01", "HARD-11", "admin", "updates at any hour",
     "rm /etc/systemd/system/apt-daily-upgrade.timer.d/60-pmops-window.conf && systemctl daemon-reload",
     "systemctl show -P TimersCalendar apt-daily-upgrade.timer | grep -q Sun"),
    ("monitor-01", "HARD-08", "upgrade", "the module blacklist emptied", "truncate -s 0 /etc/modprobe.d/60-pmops-blacklist.conf",
     "grep -q 'install' /etc/modprobe.d/60-pmops-blacklist.conf"),
    ("monitor-01", "BASE-03", "admin", "the asset record edited", "sed -i 's/\"monitor\"/\"db\"/' /etc/ansible/facts.d/asset.fact",
     "grep -q '\"tier\": \"monitor\"' /etc/ansible/facts.d/asset.fact"),
    ("monitor-01", "HARD-01", "admin", "kernel parameters drop-in emptied", "truncate -s 0 /etc/sysctl.d/60-pmops-hardening.conf",
     "grep -q kptr_restrict /etc/sysctl.d/60-pmops-hardening.conf"),
    # issue 16: CIS Level 1's remainder and ANSSI's stricter values
    # (sed keeps /etc/shadow's mode and leaves /etc/shadow- alone; passwd -l would rewrite it)
    ("web-01", "HARD-02", "intruder", "root's password locked (no console rescue)",
     "sed -i 's/^root:\\([^!*]\\)/root:!\\1/' /etc/shadow", "getent shadow root | cut -d: -f2 | grep -q '^[^!*]'"),
    ("db-01", "ACC-06", "upgrade", "a package gave postgres a login shell again", "usermod -s /bin/bash postgres",
     "getent passwd postgres | grep -q ':/usr/sbin/nologin$'"),
    ("app-02", "HARD-16", "upgrade", "a log file opened to everyone", "chmod 0644 /var/log/dpkg.log",
     "test \"$(stat -c %a /var/log/dpkg.log)\" = 640"),
    ("app-01", "HARD-05", "admin", "su opened to everyone", "sed -i '/pam_wheel.so use_uid group=pmops-su/d' /etc/pam.d/su",
     "grep -q 'pam_wheel.so use_uid group=pmops-su' /etc/pam.d/su"),
]

# What pmops apply must name and cannot put right, with the command that undoes it afterwards
# (what the person the apply names would do): host, control, who, what, command, undo.
NAMED = [
    # toor of the ACC-06 drift above shares root's uid 0 too; locking it (apply) leaves the
    # duplicate, which a person removes with www2's.
    ("monitor-01", "ACC-07", "intruder", "a second account with www-data's uid",
     "(userdel www2 2>/dev/null || true) && useradd -o -u 33 -M -d /nonexistent -s /usr/sbin/nologin www2",
     # sed, not userdel: userdel would rewrite /etc/passwd- and friends 0644 after the apply (HARD-09)
     "sed -i '/^www2:/d;/^toor:/d' /etc/passwd /etc/shadow && sed -i '/^www2:/d' /etc/group /etc/gshadow"),
    ("backup-01", "NET-02", "intruder", "a listener of its own on a port the policy does not open",
     "(systemctl stop pmops-drill-listener 2>/dev/null || true) && systemd-run --unit pmops-drill-listener python3 -c "
     "\"import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 4444)); s.listen(); time.sleep(3600)\"",
     "systemctl stop pmops-drill-listener"),
    ("web-01", "HARD-19", "admin", "a directory of someone else's put first in root's PATH",
     "install -d -o nobody -m 0755 /opt/pmops-drill-bin && echo 'PATH=/opt/pmops-drill-bin:$PATH' >> /root/.profile",
     "sed -i '/pmops-drill-bin/d' /root/.profile && rmdir /opt/pmops-drill-bin"),
    ("app-01", "HARD-20", "upgrade", "a vendor's key added to the legacy keyring apt trusts for every source",
     "cp /usr/share/keyrings/debian-archive-keyring.gpg /etc/apt/trusted.gpg", "rm -f /etc/apt/trusted.gpg"),
    ("db-01", "NET-03", "intruder", "a second packet filter beside the policy's table",
     "nft add table ip pmops_drill && nft add chain ip pmops_drill input '{ type filter hook input priority 0; policy accept; }'",
     "nft delete table ip pmops_drill"),
]

# What some drifts leave beside their own: useradd and usermod rewrite the backups of the
# account files (/etc/passwd-, /etc/group-, ...) with the modes of the originals, 0644 where
# HARD-09 wants 0600. True findings, expected too, and healed by the same apply.
COLLATERAL = {("web-01", "HARD-09"), ("monitor-01", "HARD-09"), ("db-01", "HARD-09"), ("monitor-01", "MON-01")}
# ... and the exporter stopped on db-01 is seen twice: on db-01 (its unit) and on monitor-01
# (Prometheus's target down), once Prometheus has scraped it since: STOPPED_EXPORTER waits for that.
STOPPED_EXPORTER = 'up{job="node", host="db-01"} == 0'


def test_the_drift_corpus_is_caught_by_the_right_controls_and_healed(reports, tmp_path):
    """Every drift of the corpus at once: one compliance run fails exactly the corpus's
    (host, control) pairs, changing nothing; `pmops apply` puts every one right (each probed)
    and names, with its reason, the one it must not (an unknown listener); once a person has
    dealt with that, the next run finds the lab compliant: no false alarm."""
    corpus = CORPUS + NAMED
    assert len(corpus) >= 30 and len({(h, c) for h, c, *_ in corpus}) == len(corpus)
    for host, control, _who, what, command, _probe in corpus:
        made = as_root(host, command)
        assert made.returncode == 0, f"{host} {control} ({what}): {made.stderr}"
    assert drillkit.wait_until(lambda: drillkit.prometheus().query(STOPPED_EXPORTER), 60), "Prometheus still sees db-01 up"
    hosts = sorted({h for h, *_ in corpus})
    before = {host: as_root(host, STATE).stdout for host in hosts}
    code, report, out = comply(reports)
    assert code == 1, out
    caught = failing(report)
    assert {host: as_root(host, STATE).stdout for host in hosts} == before, "the compliance run changed a host"
    wanted = {(h, c) for h, c, *_ in corpus}
    evidence = {(h, c): " ".join(report["hosts"][h]["controls"][c]["evidence"]) for h, c in caught}
    # apply puts it right, names what it cannot, and the run log says what it changed
    state = tmp_path / "state"
    applied = pmops("apply", "-i", "inventory/lab", state=state)
    healed = {(h, c) for h, c, *_, probe in CORPUS if as_root(h, probe).returncode == 0}
    named = {(h, c) for h, c, *_ in NAMED if f"{h}  {c}  " in applied.stderr}
    for host, _control, *_, undo in NAMED:
        assert as_root(host, undo).returncode == 0
    # the healed lab: every host compliant, reported three ways
    code, clean, out_clean = comply(reports)
    false_alarms = failing(clean)
    rows = [f"| {h} | {c} | {who} | {what} | {'yes' if (h, c) in caught else 'NO'} | "
            f"{'yes' if (h, c) in healed else 'named by apply' if (h, c) in named else 'NO'} |"
            for h, c, who, what, *_ in corpus]
    table = "\n".join(["| host | control | who | drift | caught | healed |", "|---|---|---|---|---|---|", *rows, "",
                        f"drifts {len(corpus)}, caught by the right control {len(wanted & caught)}, "
                        f"other controls failing {len(caught - wanted)} (expected: {len(COLLATERAL)}), "
                        f"healed by pmops apply {len(healed)}, named by pmops apply as not its to put right {len(named)}, "
                        f"false alarms on the healed lab {len(false_alarms)}"])
    (reports / "drift-corpus.md").write_text(table + "\n")
    print(table)
    assert caught == wanted | COLLATERAL, f"missed {sorted(wanted - caught)}, unexpected {sorted(caught - wanted)}\n{out}"
    assert "effective yes" in evidence[("web-01", "SSH-01")]
    assert "zz-stray" in evidence[("app-01", "ACC-04")]
    assert "rule set is not loaded" in evidence[("db-01", "NET-01")]
    assert "tcp dport 8443 accept" in evidence[("web-01", "NET-01")]
    assert "toor (uid 0)" in evidence[("monitor-01", "ACC-06")]
    assert "0.0.0.0:4444" in evidence[("backup-01", "NET-02")]
    assert "uid 33 shared by www-data, www2" in evidence[("monitor-01", "ACC-07")]
    assert "uid 0 shared by root, toor" in evidence[("monitor-01", "ACC-07")]
    assert "prometheus-node-exporter.service: inactive" in evidence[("db-01", "MON-01")]
    assert "node target db-01" in evidence[("monitor-01", "MON-01")]
    assert "'@include pmops-otp' is not before '@include common-auth'" in evidence[("app-01", "ACC-08")]
    assert "pmops-malware-scan.timer: inactive, wanted active" in evidence[("backup-01", "MAL-01")]
    assert applied.returncode == 1, "drift remains after the apply: it must not exit 0\n" + applied.stderr[-3000:]
    assert "apply could not put these right" in applied.stderr and named == {(h, c) for h, c, *_ in NAMED}, \
        applied.stderr[-3000:]
    assert healed == {(h, c) for h, c, *_ in CORPUS}, f"not healed: {sorted({(h, c) for h, c, *_ in CORPUS} - healed)}"
    assert code == 0 and false_alarms == set(), out_clean
    assert_compliant_and_reported(reports, clean)
    # each administrator's enrolment is evidence of ACC-08 (li.wei: sudo rights everywhere)
    enrolment = " ".join(clean["hosts"]["app-01"]["controls"]["ACC-08"]["evidence"])
    assert "li.wei: enrolled" in enrolment or "li.wei: not enrolled" in enrolment, enrolment
    history = pmops("history", "--verbose", "--verify", state=state)
    assert history.returncode == 0, history.stderr
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout[:8]
    assert commit in history.stdout and "chain intact" in history.stderr
    assert "web-01: ssh : " in history.stdout and "app-01: access : " in history.stdout
    assert "backup-01: NOT PUT RIGHT NET-02" in history.stdout


def test_waived_and_expired_exceptions(reports, tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory" / "lab", inventory)
    register = [
        {"control": "HARD-07", "hosts": ["web-01"], "reason": "Vendor banner during the pilot",
         "owner": "ops@example.cn", "ticket": "CHG-1", "expires": "2099-12-31"},
        {"control": "HARD-06", "groups": ["web"], "reason": "Old cron exception", "owner": "ops@example.cn",
         "ticket": "CHG-2", "expires": "2020-01-31"},
    ]
    (inventory / "group_vars" / "all" / "exceptions.yml").write_text(yaml.safe_dump({"pmops_exceptions": register}))
    code, report, out = comply(reports, "--limit", "web-01", inventory=str(inventory))
    assert code == 1, out
    web = report["hosts"]["web-01"]["controls"]
    assert web["HARD-07"]["status"] == "waived"
    assert web["HARD-07"]["waiver"]["owner"] == "ops@example.cn" and str(web["HARD-07"]["waiver"]["expires"]) == "2099-12-31"
    assert web["HARD-06"]["status"] == "fail" and "exception expired on 2020-01-31" in web["HARD-06"]["evidence"][0]
    assert failing(report) == {("web-01", "HARD-06")}, out


def test_a_stopped_host_is_unreachable_never_compliant(reports):
    stop = lab.podman("stop", "--time", "5", "pmops-monitor-01", check=False)
    assert stop.returncode == 0, stop.stderr
    try:
        code, report, out = comply(reports, "--limit", "monitor-01,web-01")
        assert code == 1, out
        monitor = report["hosts"]["monitor-01"]
        assert monitor["reachable"] is False and monitor["score"] == 0.0
        assert {r["status"] for r in monitor["controls"].values()} == {"unreachable"}
        # web-01 is reached and assessed; what it cannot do without monitor-01 (its logs
        # arriving at the log server) fails, as it should
        assert report["hosts"]["web-01"]["reachable"] is True
        assert failing(report) - {("monitor-01", c) for c in monitor["controls"]} == {("web-01", "HARD-18")}
    finally:
        up = pmops("lab", "up")
        assert up.returncode == 0, up.stderr


def test_the_html_report_renders_scores_and_chart_in_headless_chromium(reports, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is installed by make setup"
    # the newest run of this module that covered the whole lab and was compliant
    page = [p.parent / "report.html" for p in sorted(reports.glob("*/report.json"))
            if json.loads(p.read_text())["summary"]["compliant"] and len(json.loads(p.read_text())["hosts"]) == 6][-1]
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    proc = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert '<span id="overall-score">100.0 %</span>' in dom and "compliant" in dom
    assert dom.count('class="point"') >= 2 and "<polyline" in dom  # the trend of this module's runs
    assert all(f'data-host="{h}"' in dom for h in ("web-01", "app-01", "db-01", "backup-01", "monitor-01"))
