"""What every drill needs, once: lab addresses from the lab's topology (inventory/lab), fresh
SSH logins as the automation account or a person, root commands, and runs of pmops and
ansible-playbook with their combined output. Drills import it as `drillkit` (pytest puts
this directory on sys.path, as it does for any test directory without __init__.py).
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from pmops import lab, runlog, totp
from pmops.paths import state_dir

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PEOPLE = ROOT / ".lab" / "people"
CA = str(ROOT / ".lab" / "pki" / "ca.crt")
ENV = dict(os.environ, CONTAINERS_CONF=str(lab.CONTAINERS_CONF), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")


@functools.cache
def topology() -> lab.Topology:
    return lab.load_topology()


def address(host: str) -> str:
    """A lab host's address, as inventory/lab writes it."""
    return topology().host(host).ip


def web_url(host: str = "web-01") -> str:
    return f"https://{address(host)}"


TWO_FACTOR_GROUP = "pmops-2fa"
OTP_DIR = "/var/lib/pmops-otp"


def otp_secret(host: str, login: str, enrol: bool = True) -> str | None:
    """The person's one-time-password secret on host when sshd asks them for a code (they are
    in the two-factor group), None when it does not. Not enrolled yet: enrolled here on the
    host, as `pmops otp enrol` does (enrol=False: None)."""
    proc = as_root(host, totp.secret_shell(login, TWO_FACTOR_GROUP, OTP_DIR, enrol))
    if proc.returncode in (3, 4):
        return None
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def person_ssh(host: str, login: str, key: str, code: bool = True) -> tuple[list[str], dict]:
    """argv (up to user@address) and environment of a fresh login as a person with one of
    their keys, answering sshd's one-time-code prompt when it asks one (code=False: the key
    alone, as if the person had no code), on a terminal (-tt: sudo requires one, HARD-05)."""
    identity = ["-i", str(PEOPLE / key), "-o", "IdentitiesOnly=yes"]
    secret = otp_secret(host, login) if code else None
    options, env = totp.askpass(ROOT / ".lab" / "tmp") if secret else ([], {})
    argv = ["ssh", "-tt"] + options + lab.ssh_base()[1:] + identity + [f"{login}@{address(host)}"]
    return argv, totp.with_code({**os.environ, **env}, secret) if secret else dict(os.environ)


def ssh(host: str, *command: str, user: str | None = None, key: str | None = None,
        timeout: float = 120, code: bool = True) -> subprocess.CompletedProcess:
    """A fresh login (host key checking on, no reused connection) running command as given:
    one string is run by the remote shell, several words are quoted for it. As the automation
    account unless user (and key, a file under .lab/people) say otherwise; a person in the
    two-factor group answers with the current code of their secret unless code=False."""
    remote = command[0] if len(command) == 1 else shlex.join(command)
    if key:
        argv, env = person_ssh(host, user, key, code=code)
    else:
        argv, env = lab.ssh_base() + [f"{user or topology().user}@{address(host)}"], None
    return subprocess.run(argv + ([remote] if command else []), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def sudo(host: str, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """argv as root through the automation account's sudo."""
    return ssh(host, "sudo -n " + shlex.join(argv), timeout=timeout)


def as_root(host: str, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A shell command line as root."""
    return lab.as_root(host, command, timeout=timeout, topo=topology())


def start_unit(host: str, unit: str) -> None:
    """systemctl start a oneshot unit and wait for it; a failure reports the unit's state and
    the host's journal of the last minutes (whatever else ran then is named there too)."""
    started = time.time()
    proc = sudo(host, "systemctl", "start", unit)
    if proc.returncode != 0:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started - 5))
        why = as_root(host, f"TZ=UTC systemctl status --no-pager --lines=0 {shlex.quote(unit)}; "
                            f"TZ=UTC journalctl --no-pager --output=short-precise --since '{since}' | tail -n 80")
        raise AssertionError(f"systemctl start {unit} on {host} failed after {time.time() - started:.1f} s: "
                             f"{proc.stderr.strip()}\n{why.stdout}{why.stderr}")


def _run(argv: list[str], timeout: float, env: dict | None) -> tuple[subprocess.CompletedProcess, float, str]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started, " ".join((proc.stdout + proc.stderr).split())


def playbook(*args: str, inventory: str = "inventory/lab", timeout: float = 900,
             env: dict | None = None) -> tuple[subprocess.CompletedProcess, float, str]:
    """ansible-playbook on the lab: (process, seconds, output on one line)."""
    return _run([str(BIN / "ansible-playbook"), "-i", inventory, *args], timeout, env)


def pmops(*args: str, timeout: float = 1200, state: Path | None = None) -> tuple[subprocess.CompletedProcess, float, str]:
    """The pmops command: (process, seconds, output on one line); state: its PMOPS_STATE_DIR."""
    env = dict(ENV, PMOPS_STATE_DIR=str(state)) if state is not None else None
    return _run([str(BIN / "pmops"), *args], timeout, env)


def converge(*args: str, limit: str | None = None, tags: str | None = None, extra: dict | None = None,
             inventory: str = "inventory/lab", timeout: float = 900) -> tuple[subprocess.CompletedProcess, float, str]:
    """site.yml with ansible-playbook (what an operator who prefers it runs)."""
    more = (["--limit", limit] if limit else []) + (["--tags", tags] if tags else []) + \
        (["-e", json.dumps(extra)] if extra else [])
    return playbook("playbooks/site.yml", *more, *args, inventory=inventory, timeout=timeout)


def run_log(state: Path | None = None) -> list[dict]:
    """The records of the run log pmops writes (`pmops history --json`)."""
    return runlog.read(runlog.path(state or state_dir()))


# ------------------------------------------------------------------ monitoring
MONITOR = "monitor-01"
RECEIVER_LOG = "/var/lib/pmops-alerts/alerts.jsonl"


def prometheus():
    """The lab's Prometheus, from the control node (the firewall admits it to 9090)."""
    from pmops.monitoring import Prometheus
    password = (ROOT / ".lab" / "secrets" / "prometheus_password").read_text().strip()
    return Prometheus(f"https://{address(MONITOR)}:9090", ca=CA, user="pmops", password=password)


def notifications() -> list[dict]:
    """Every notification the lab's receiver on monitor-01 has written, one record per alert."""
    from pmops.monitoring import notifications as parse
    proc = sudo(MONITOR, "cat", RECEIVER_LOG)
    return parse(proc.stdout) if proc.returncode == 0 else []


def wait_for_notification(since: float, status: str, timeout: float, **labels: str) -> float | None:
    """Seconds from since to the first notification of that status with those labels, or None."""
    from pmops.monitoring import matching
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = matching(notifications(), since=since, status=status, **labels)
        if found:
            return min(r["received"] for r in found) - since
        time.sleep(3)
    return None


def silences(host: str) -> list[dict]:
    """Alertmanager's silences on host=<host>, expired ones too (amtool on monitor-01)."""
    found = []
    for extra in (["--expired"], []):
        proc = sudo(MONITOR, "amtool", "silence", "query", *extra, "-o", "json", f"host={host}",
                    f"--alertmanager.url=https://{MONITOR}:9093", "--http.config.file=/etc/prometheus/amtool-http.yml")
        found += json.loads(proc.stdout or "[]") if proc.returncode == 0 else []
    return found


def am_time(stamp: str) -> float:
    """Alertmanager's RFC 3339 time (fractions and Z, or an offset) as epoch seconds, to the second."""
    from datetime import datetime, timezone
    head = stamp.replace("Z", "").split("+")[0].split(".")[0]
    return datetime.fromisoformat(head).replace(tzinfo=timezone.utc).timestamp()


def new_alerts_since(since: float, ignore: tuple[str, ...] = ("Watchdog",)) -> list[tuple[str, str]]:
    """(alertname, host) of every alert that started firing at or after since and reached the receiver."""
    return sorted({(r["labels"].get("alertname"), r["labels"].get("host", "")) for r in notifications()
                   if r["status"] == "firing" and r["labels"].get("alertname") not in ignore
                   and am_time(r["startsAt"]) >= since - 1})


LATENCIES = ROOT / ".cache" / "alert-latencies.json"


def record_latency(drill: str, **figures: float) -> None:
    """Keep an alert drill's measured latencies (.cache/alert-latencies.json)."""
    data = json.loads(LATENCIES.read_text()) if LATENCIES.exists() else {}
    data[drill] = {k: round(v, 1) for k, v in figures.items()}
    LATENCIES.parent.mkdir(exist_ok=True)
    LATENCIES.write_text(json.dumps(data, indent=1, sort_keys=True))


def firing(prom, **labels: str) -> list[dict]:
    """Alerts Prometheus has firing now whose labels include labels."""
    return [a for a in prom.alerts() if a["state"] == "firing"
            and all(a["labels"].get(k) == v for k, v in labels.items())]


def wait_until(condition, timeout: float, step: float = 3.0):
    """condition()'s first true value within timeout seconds, or None."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return None
