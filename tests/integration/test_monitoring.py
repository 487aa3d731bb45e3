"""Monitoring as converged, read from what runs: every host's node-exporter refuses a client
without a certificate of the CA and answers one with it, reporting only the units the roles
manage; the monitor's Prometheus scrapes every inventory host with its labels, has loaded the
project's rules, keeps 180 days, and answers only over TLS with its password; Alertmanager
does not gossip. That alerts fire and arrive is proven by the drills (tests/drills/test_alerts.py)."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from conftest import ROOT, role_inputs, ssh_command

# Asks a URL from the host itself with Python's standard library (the hosts have no curl):
# prints the status and body as JSON, or the error's class and text.
FETCH = r"""
import json, ssl, sys, urllib.request, base64
url, ca, cert, key, auth = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
if cert:
    ctx.load_cert_chain(cert, key)
req = urllib.request.Request(url)
if auth:
    req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
try:
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": ""}))
except Exception as e:
    print(json.dumps({"status": None, "error": type(e).__name__ + ": " + str(e)}))
"""
EXPORTER_TLS = "/etc/prometheus/pmops-tls"
MONITOR_TLS = "/etc/prometheus/pmops-monitor-tls"


def fetch(host, url: str, ca: str, cert: str = "", key: str = "", auth: str = "") -> dict:
    with host.sudo():
        out = host.check_output("python3 -c %s %s %s %s %s %s", FETCH, url, ca, cert, key, auth)
    return json.loads(out)


@pytest.fixture(scope="module")
def exporters(hostvars) -> dict:
    return role_inputs("exporters", hostvars)


@pytest.fixture(scope="module")
def monitor(hostvars):
    if "monitor" not in hostvars.get("group_names", []):
        pytest.skip("not a monitor host")
    return role_inputs("prometheus", hostvars)


@pytest.fixture(scope="module")
def credentials(host, monitor) -> str:
    """user:password of Prometheus' web user, from amtool's settings on the monitor (root only)."""
    with host.sudo():
        text = host.file("/etc/prometheus/amtool-http.yml").content_string
    user = re.search(r"username: (\S+)", text).group(1)
    password = json.loads(re.search(r"password: (.+)", text).group(1))
    return f"{user}:{password}"


def api(host, monitor, credentials, path: str) -> dict:
    url = f"https://{host.backend.get_hostname()}:{monitor['prometheus_port']}{path}"
    answer = fetch(host, url, f"{MONITOR_TLS}/ca.crt", auth=credentials)
    assert answer["status"] == 200, answer
    return json.loads(answer["body"])


# ------------------------------------------------------------------ every host
def test_node_exporter_runs(host):
    service = host.service("prometheus-node-exporter")
    assert service.is_running and service.is_enabled


def test_node_exporter_refuses_a_client_without_a_certificate(host, exporters):
    url = f"https://{host.backend.get_hostname()}:{exporters['exporters_node_port']}/metrics"
    answer = fetch(host, url, f"{EXPORTER_TLS}/ca.crt")
    assert answer["status"] is None and "SSL" in answer["error"], answer


def test_node_exporter_answers_a_client_of_the_ca_with_only_the_managed_units(host, exporters, hostvars):
    url = f"https://{host.backend.get_hostname()}:{exporters['exporters_node_port']}/metrics"
    answer = fetch(host, url, f"{EXPORTER_TLS}/ca.crt", f"{EXPORTER_TLS}/exporter.crt", f"{EXPORTER_TLS}/exporter.key")
    assert answer["status"] == 200, answer
    units = set(re.findall(r'^node_systemd_unit_state\{name="([^"]+)"', answer["body"], re.M))
    wanted = exporters["exporters_systemd_units"] + [
        u for g in hostvars["group_names"] for u in exporters["exporters_systemd_units_by_group"].get(g, [])]
    pattern = re.compile("^(" + "|".join(wanted) + ")$")
    assert units, "the systemd collector reports no unit"
    assert {u for u in units if not pattern.match(u)} == set()
    assert {"ssh.service", "prometheus-node-exporter.service"} <= units
    # every collector that is off stays off: no series of a default collector we did not ask for
    assert "node_arp_entries" not in answer["body"] and "node_entropy_available_bits" not in answer["body"]


def test_the_other_exporters_refuse_a_client_without_a_certificate(host, hostvars, exporters):
    ports = []
    if exporters["exporters_postgres_enabled"]:
        ports.append(exporters["exporters_postgres_port"])
    if hostvars.get("nginx_metrics_enabled"):
        ports.append(hostvars.get("nginx_metrics_port", 9113))
    if not ports:
        pytest.skip("no other exporter on this host")
    for port in ports:
        url = f"https://{host.backend.get_hostname()}:{port}/metrics"
        answer = fetch(host, url, f"{EXPORTER_TLS}/ca.crt")
        assert answer["status"] in (None, 400), (port, answer)  # nginx answers 400 "No required SSL certificate"
        good = fetch(host, url, f"{EXPORTER_TLS}/ca.crt", f"{EXPORTER_TLS}/exporter.crt", f"{EXPORTER_TLS}/exporter.key")
        assert good["status"] == 200 and ("pg_up 1" in good["body"] or "nginx_up 1" in good["body"]), (port, good)


def test_the_business_figures_are_read_from_the_database(host, exporters):
    if not exporters["exporters_business_enabled"]:
        pytest.skip("no business figures on this host")
    assert host.service("pmops-business-metrics.timer").is_running
    text = host.file("/var/lib/prometheus/node-exporter/pmops_marketing.prom").content_string
    assert "pmops_marketing_up 1" in text
    assert f"pmops_marketing_meter_feed_expected {int(exporters['exporters_business_meter_feed_expected'])}" in text


def test_certificate_expiry_is_published(host, exporters):
    text = host.file("/var/lib/prometheus/node-exporter/pmops_certificates.prom").content_string
    paths = set(re.findall(r'^pmops_tls_certificate_not_after_timestamp_seconds\{path="([^"]+)"', text, re.M))
    assert f"{EXPORTER_TLS}/exporter.crt" in paths and f"{EXPORTER_TLS}/ca.crt" in paths
    assert "pmops_tls_certificate_read_errors 0" in text


SECURITY_PROM = "/var/lib/prometheus/node-exporter/pmops_security.prom"


def security_metrics(host, *args: str) -> dict[str, float]:
    """Run the collector now (as its timer does) and read what it published, {sample: value}."""
    with host.sudo():
        host.check_output("/usr/local/sbin/pmops-security-metrics " + " ".join(args))
        text = host.file(SECURITY_PROM).content_string
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


SECURITY_CURSOR = "/var/lib/pmops-security-metrics/journal.cursor"
# sshd's lines that end a failed login attempt: the collector's pattern for sshd, written out
# again on purpose (the test's own oracle of which lines in the window are failures).
SSHD_FAILURE = re.compile(r"^(Connection (closed|reset) by|Disconnect(ed from|ing)) (authenticating|invalid) user |^Failed password for ")


def sshd_lines_between(host, first: str, last: str) -> list[str]:
    """sshd's journal messages after cursor first, up to and including cursor last (the
    collector's cursors: the last line it read of sshd, sudo and su)."""
    with host.sudo():
        out = host.check_output(f"journalctl --no-pager -q -o json --after-cursor='{first}' --identifier=sshd "
                                "--identifier=sudo --identifier=su --output-fields=__CURSOR,SYSLOG_IDENTIFIER,MESSAGE")
    messages = []
    for line in out.splitlines():
        entry = json.loads(line)
        if entry.get("SYSLOG_IDENTIFIER") == "sshd" and isinstance(entry.get("MESSAGE"), str):
            messages.append(entry["MESSAGE"])
        if entry["__CURSOR"] == last:
            return messages
    raise AssertionError(f"the collector's cursor {last} is not in the journal after {first}")


def test_failed_logins_are_counted_and_published(host, hostvars, exporters):
    """MON-03: three refused logins of an unknown account from the control node raise sshd's
    counter by three, plus exactly the failures others caused in the same window (testinfra
    runs other files beside this one: the access matrix's refused people on the same host)."""
    if not exporters["exporters_security_enabled"]:
        pytest.skip("no security metrics on this host")
    assert host.service("pmops-security-metrics.timer").is_running
    before = security_metrics(host)['pmops_login_failures_total{program="sshd"}']
    with host.sudo():
        first = host.file(SECURITY_CURSOR).content_string.strip()
    argv = ssh_command(hostvars, "pmops-no-such-user", "-o", "PubkeyAuthentication=no", "-o", "PasswordAuthentication=no",
                       "-o", "KbdInteractiveAuthentication=no") + ["true"]
    for _ in range(3):
        refused = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert refused.returncode == 255, refused
    deadline = time.monotonic() + 20
    while True:  # the journal may take a moment to hand sshd's lines on
        after = security_metrics(host)
        if after['pmops_login_failures_total{program="sshd"}'] >= before + 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    with host.sudo():
        last = host.file(SECURITY_CURSOR).content_string.strip()
    window = [m for m in sshd_lines_between(host, first, last) if SSHD_FAILURE.search(m)]
    ours = [m for m in window if " user pmops-no-such-user " in m]
    assert len(ours) == 3, window
    assert after['pmops_login_failures_total{program="sshd"}'] == before + len(window), (after, window)
    assert after["pmops_security_metrics_errors"] == 0
    if host.file("/etc/systemd/system/pmops-aide-check.timer").exists:
        assert "pmops_aide_database_timestamp_seconds" in after, after


def test_the_patch_state_is_published(host, exporters):
    """MON-04: the pending security updates are what apt would install now, and the reboot need is there."""
    if not exporters["exporters_security_enabled"]:
        pytest.skip("no security metrics on this host")
    found = security_metrics(host, "--refresh")  # the timer's runs wait until apt has been still for 90 s
    with host.sudo():
        simulated = host.check_output("apt-get -s -q -o Debug::NoLocking=true dist-upgrade")
    installs = [line for line in simulated.splitlines() if line.startswith("Inst ")]
    assert found["pmops_updates_pending"] == len(installs)
    assert found["pmops_security_updates_pending"] == len([line for line in installs if "-security" in line])
    assert found["pmops_reboot_required"] == int(host.file("/run/reboot-required").exists)
    assert found["pmops_apt_lists_timestamp_seconds"] > 0


# ------------------------------------------------------------------ the monitor
def test_prometheus_and_alertmanager_run(host, monitor):
    for name in ("prometheus", "prometheus-alertmanager"):
        service = host.service(name)
        assert service.is_running and service.is_enabled, name


def test_prometheus_refuses_a_request_without_its_password(host, monitor):
    url = f"https://{host.backend.get_hostname()}:{monitor['prometheus_port']}/api/v1/targets"
    assert fetch(host, url, f"{MONITOR_TLS}/ca.crt")["status"] == 401


def test_every_inventory_host_is_scraped_with_its_labels(host, monitor, credentials, hostvars):
    for _ in range(10):  # a Prometheus restarted by the converge has not scraped every target yet
        targets = api(host, monitor, credentials, "/api/v1/targets?state=active")["data"]["activeTargets"]
        if all(t["health"] != "unknown" for t in targets):
            break
        time.sleep(3)
    node = {t["labels"]["host"]: t for t in targets if t["labels"]["job"] == "node"}
    assert sorted(node) == sorted(hostvars["groups"][monitor["prometheus_targets_group"]])
    for name, target in node.items():
        assert target["scrapeUrl"].startswith("https://"), target["scrapeUrl"]
        assert {"tier", "environment", "owner", "service"} <= set(target["labels"]), target["labels"]
    down = {t["labels"]["job"] + "/" + t["labels"].get("host", "?"): t["lastError"]
            for t in targets if t["health"] != "up"}
    assert down == {}


def test_every_job_of_the_inventory_is_scraped(host, monitor, credentials, hostvars):
    targets = api(host, monitor, credentials, "/api/v1/targets?state=active")["data"]["activeTargets"]
    jobs = {t["labels"]["job"] for t in targets}
    assert {"node", "postgres", "nginx", "portal", "blackbox_https", "prometheus", "alertmanager"} <= jobs
    portal = sorted(t["labels"]["host"] for t in targets if t["labels"]["job"] == "portal")
    assert portal == sorted(hostvars["groups"][monitor["prometheus_portal_group"]])
    # the database exporter logs in (peer authentication, no password)
    assert [r["value"][1] for r in api(host, monitor, credentials, "/api/v1/query?query=pg_up")["data"]["result"]] == ["1"]


def test_the_projects_rules_are_loaded(host, monitor, credentials):
    groups = api(host, monitor, credentials, "/api/v1/rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    assert {"pmops-fleet", "pmops-backup", "pmops-portal-slo", "pmops-business"} <= names
    alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert {"Watchdog", "HostDown", "ServiceDown", "BackupStale", "PortalErrorBudgetBurn"} <= alerts
    unhealthy = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] == "err"]
    assert unhealthy == []


def test_the_console_templates_render_the_fleet_and_the_business(host, monitor, credentials, hostvars):
    base = f"https://{host.backend.get_hostname()}:{monitor['prometheus_port']}/consoles"
    fleet = fetch(host, f"{base}/pmops-fleet.html", f"{MONITOR_TLS}/ca.crt", auth=credentials)
    assert fleet["status"] == 200, fleet
    for name in hostvars["groups"][monitor["prometheus_targets_group"]]:
        assert f'<tr data-host="{name}">' in fleet["body"], name
    business = fetch(host, f"{base}/pmops-business.html", f"{MONITOR_TLS}/ca.crt", auth=credentials)
    assert business["status"] == 200 and 'id="readings"' in business["body"], business
    assert "error executing template" not in fleet["body"] + business["body"]


def test_retention_is_as_the_inventory_says(host, monitor, credentials):
    flags = api(host, monitor, credentials, "/api/v1/status/flags")["data"]
    assert flags["storage.tsdb.retention.time"] == monitor["prometheus_retention_time"]
    assert flags["storage.tsdb.retention.size"] == monitor["prometheus_retention_size"]


def test_alertmanager_answers_over_tls_and_does_not_gossip(host, monitor, credentials):
    url = f"https://{host.backend.get_hostname()}:{monitor['prometheus_alertmanager_port']}/api/v2/status"
    answer = fetch(host, url, f"{MONITOR_TLS}/ca.crt", auth=credentials)
    assert answer["status"] == 200, answer
    assert json.loads(answer["body"])["cluster"]["status"] == "disabled"
    assert fetch(host, url, f"{MONITOR_TLS}/ca.crt")["status"] == 401
    assert not host.socket("tcp://0.0.0.0:9094").is_listening


def query(host, monitor, credentials, expr: str) -> list[dict]:
    from urllib.parse import quote
    return api(host, monitor, credentials, f"/api/v1/query?query={quote(expr)}")["data"]["result"]


def test_security_events_and_patch_state_reach_the_monitor(host, monitor, credentials, hostvars):
    """MON-03, MON-04: every host's failed logins and pending updates are series in Prometheus."""
    hosts = sorted(hostvars["groups"][monitor["prometheus_targets_group"]])
    for metric in ("pmops_login_failures_total", "pmops_security_updates_pending", "pmops_aide_database_timestamp_seconds"):
        assert sorted({r["metric"]["host"] for r in query(host, monitor, credentials, metric)}) == hosts, metric


def test_backup_freshness_is_published(host, monitor, credentials, hostvars):
    """MON-05: every backup client's newest backup, or its enrolment, is a series in Prometheus, under 26 hours old."""
    clients = sorted(h for h in hostvars["groups"][monitor["prometheus_targets_group"]]
                     if h != hostvars.get("backup_repository_host", "backup-01"))
    ages = query(host, monitor, credentials, 'time() - max by (host) ({__name__=~"pmops_backup_last_success_timestamp_seconds'
                                             '|pmops_backup_enrolled_timestamp_seconds"})')
    assert sorted(r["metric"]["host"] for r in ages) == clients
    assert all(float(r["value"][1]) < 26 * 3600 for r in ages), ages
