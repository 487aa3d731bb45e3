"""The database, application and web tiers as converged: PostgreSQL with TLS and pg_hba
from the tier policy, the portal's release layout and sandboxed service, nginx's TLS,
headers and upstream. Tests skip on hosts outside their tier."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

import pytest

from conftest import role_inputs

ROOT = Path(__file__).resolve().parents[2]


def tier(hostvars, name):
    if name not in hostvars.get("group_names", []):
        pytest.skip(f"not a {name} host")


# ------------------------------------------------------------------ db
def test_postgresql_runs_with_tls_and_the_tuned_memory(host, hostvars):
    tier(hostvars, "db")
    pg = role_inputs("postgresql", hostvars)
    assert host.service(f"postgresql@{pg['postgresql_version']}-main").is_running
    settings = host.run("sudo -u postgres psql -XAtc \"SELECT name || '=' || setting || coalesce(unit, '') FROM pg_settings"
                        " WHERE name IN ('ssl', 'shared_buffers', 'password_encryption', 'listen_addresses')\"")
    assert settings.rc == 0, settings.stderr
    values = dict(line.split("=", 1) for line in settings.stdout.split())
    assert values["ssl"] == "on"
    assert values["password_encryption"] == "scram-sha-256"
    # shared_buffers is a quarter of the memory the tuning was given, in 8 kB pages
    assert int(values["shared_buffers"].removesuffix("8kB")) * 8 // 1024 == int(pg["postgresql_memory_mb"]) // 4


def test_pg_hba_admits_each_application_role_from_its_tier_only_over_tls(host, hostvars):
    tier(hostvars, "db")
    pg = role_inputs("postgresql", hostvars)
    rules = [line.split() for line in host.file(f"/etc/postgresql/{pg['postgresql_version']}/main/pg_hba.conf")
             .content_string.splitlines() if line.strip() and not line.startswith("#")]
    runner = host.backend.ansible_runner
    app_addresses = {f"{runner.get_variables(h)['ansible_host']}/32" for h in hostvars["groups"]["app"]}
    for role in pg["postgresql_roles"]:
        mine = [r for r in rules if len(r) > 2 and r[2] == role["name"]]
        assert {r[3] for r in mine} == app_addresses
        assert all(r[0] == "hostssl" and r[-1] == "scram-sha-256" for r in mine)
    assert rules[-2:] == [["host", "all", "all", "0.0.0.0/0", "reject"], ["host", "all", "all", "::/0", "reject"]]


def test_the_dba_duty_has_its_own_database_role_and_nobody_else_does(host, hostvars):
    tier(hostvars, "db")
    roles = host.run("sudo -u postgres psql -XAtc \"SELECT rolname FROM pg_roles WHERE rolcanlogin\"").stdout.split()
    people = hostvars.get("access_people", [])
    dba = [p["login"] for p in people if "dba" in p.get("duties", [])]
    others = [p["login"] for p in people if "dba" not in p.get("duties", [])]
    assert set(dba) <= set(roles)
    assert not set(others) & set(roles)
    member = host.run(f"sudo -u postgres psql -XAtc \"SELECT pg_has_role('{dba[0]}', 'pg_read_all_data', 'member')\"")
    assert member.stdout.strip() == "t"


# ------------------------------------------------------------------ app
def test_the_release_layout_and_record(host, hostvars):
    tier(hostvars, "app")
    current = host.file("/opt/marketing-portal/current")
    assert current.is_symlink and current.linked_to.startswith("/opt/marketing-portal/releases/")
    record = json.loads(host.file("/opt/marketing-portal/.pmops-releases.json").content_string)
    version = current.linked_to.rsplit("/", 1)[-1]
    assert version in [r["version"] for r in record["installed"]]
    manifest = json.loads((ROOT / "apps" / "marketing-portal" / "dist" / f"marketing-portal-{version}.manifest.json").read_text())
    assert [r["sha256"] for r in record["installed"] if r["version"] == version] == [manifest["sha256"]]
    assert host.file(f"/opt/marketing-portal/releases/{version}").user == "root"


def test_the_service_runs_sandboxed_as_its_own_account(host, hostvars):
    tier(hostvars, "app")
    assert host.service("marketing-portal").is_running and host.service("marketing-portal").is_enabled
    show = host.run("systemctl show marketing-portal -p User -p NoNewPrivileges -p ProtectSystem -p CapabilityBoundingSet"
                    " -p PrivateTmp -p MainPID").stdout
    props = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
    assert props["User"] == "portal" and props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict" and props["PrivateTmp"] == "yes"
    assert props["CapabilityBoundingSet"] == ""
    owner = host.run(f"ps -o user= -p {props['MainPID']}").stdout.strip()
    assert owner == "portal"
    env = host.file("/etc/marketing-portal/marketing-portal.env")
    assert env.mode == 0o640 and env.user == "root" and env.group == "portal"


def test_the_health_check_asks_the_database_over_verified_tls(host, hostvars):
    tier(hostvars, "app")
    health = json.loads(host.check_output("curl -sf http://127.0.0.1:8080/healthz"))
    assert health["status"] == "ok" and health["schema"] >= 1
    env = host.file("/etc/marketing-portal/marketing-portal.env").content_string
    assert 'PORTAL_DB_SSLMODE="verify-full"' in env
    metrics = host.check_output("curl -sf http://127.0.0.1:8080/metrics")
    assert "portal_info{" in metrics and "portal_http_requests_total" in metrics


def test_app_connections_reach_postgresql_over_tls(host, hostvars):
    tier(hostvars, "db")
    rows = host.run("sudo -u postgres psql -XAtc \"SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a"
                    " USING (pid) WHERE a.usename = 'marketing_portal'\"").stdout.strip()
    assert rows == "t", "every connection of the portal must use TLS"


# ------------------------------------------------------------------ web
def test_nginx_serves_tls_with_security_headers_and_redirects_http(host, hostvars):
    tier(hostvars, "web")
    address = hostvars["ansible_host"]
    context = ssl.create_default_context(cafile=str(ROOT / ".lab" / "pki" / "ca.crt"))
    with urllib.request.urlopen(f"https://{address}/version", context=context, timeout=10) as resp:
        headers = resp.headers
        assert json.loads(resp.read())["name"] == "marketing-portal"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Server"] == "nginx"  # no version
    redirect = host.run("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1/version")
    assert redirect.stdout.startswith("301 https://")


def test_metrics_are_not_exposed_through_the_proxy(host, hostvars):
    tier(hostvars, "web")
    code = host.run("curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1/metrics").stdout
    assert code == "404"


def test_every_app_host_is_an_upstream_member_and_none_is_drained(host, hostvars):
    tier(hostvars, "web")
    members = sorted(f.removesuffix(".conf") for f in host.file("/etc/nginx/pmops-upstream").listdir())
    assert members == sorted(hostvars["groups"]["app"])
    for name in members:
        content = host.file(f"/etc/nginx/pmops-upstream/{name}.conf").content_string
        assert "# drained" not in content and " down;" not in content
