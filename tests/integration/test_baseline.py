"""Baseline (the equipment area): hostname, /etc/hosts, time, locale, journal, packages, asset fact."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import ROOT

BASE_PACKAGES = yaml.safe_load((ROOT / "roles/baseline/defaults/main.yml").read_text())["baseline_packages"]


def test_hostname_is_the_inventory_name(host, hostvars):
    assert host.check_output("hostname") == hostvars["inventory_hostname"]


def test_etc_hosts_names_every_host_of_the_system(host, hostvars, baseline):
    lines = host.file("/etc/hosts").content_string.splitlines()
    entries = {line.split()[0]: line.split()[1:] for line in lines if line and not line.startswith("#")}
    for name in hostvars["groups"][baseline["baseline_hosts_group"]]:
        # get_variables() gives this host's view only; every other host is found by name.
        names = [n for names in entries.values() for n in names]
        assert name in names, f"{name} missing from /etc/hosts"
    own = hostvars.get("pmops_address", hostvars.get("ansible_host"))
    if own:
        assert hostvars["inventory_hostname"] in entries.get(own, [])


def test_timezone(host, baseline):
    zone = baseline["baseline_timezone"]
    assert host.file("/etc/localtime").linked_to == f"/usr/share/zoneinfo/{zone}"
    assert host.file("/etc/timezone").content_string.strip() == zone


@pytest.mark.parametrize("package", BASE_PACKAGES)
def test_base_package_installed(host, package):
    assert host.package(package).is_installed


def test_locales_generated_and_lang_set(host, baseline):
    available = host.check_output("locale -a").lower().replace("-", "").splitlines()
    for loc in baseline["baseline_locales_generated"]:
        assert loc.lower().replace("-", "") in available
    assert f"LANG={baseline['baseline_locale']}" in host.file("/etc/default/locale").content_string


def test_chrony_runs_with_the_configured_sources(host, baseline):
    chrony = host.service("chrony")
    assert chrony.is_running
    assert chrony.is_enabled
    conf = host.file("/etc/chrony/chrony.conf").content_string
    for server in baseline["baseline_ntp_servers"]:
        assert f"server {server} iburst" in conf
    for pool in baseline["baseline_ntp_pools"]:
        assert f"pool {pool} iburst" in conf
    sources = host.check_output("chronyc -n sources")
    for server in baseline["baseline_ntp_servers"]:
        if server.replace(".", "").isdigit():
            assert server in sources


def test_chrony_only_measures_in_a_container(host):
    virt = host.run("systemd-detect-virt --container").stdout.strip()
    opts = host.file("/etc/default/chrony").content_string
    if virt and virt != "none":
        assert '-x"' in opts
        assert "chronyd -F 1 -x" in host.check_output("ps -o args= -C chronyd")
    else:
        assert "-x" not in opts


def test_journal_is_persistent_and_capped(host, baseline):
    conf = host.file("/etc/systemd/journald.conf.d/60-pmops.conf")
    assert conf.mode == 0o644
    assert f"Storage={baseline['baseline_journald_storage']}" in conf.content_string
    assert f"SystemMaxUse={baseline['baseline_journald_max_use']}" in conf.content_string
    if baseline["baseline_journald_storage"] == "persistent":
        assert host.file("/var/log/journal").is_directory
    assert host.service("systemd-journald").is_running


def test_asset_fact_describes_the_host(host, hostvars):
    fact = host.file("/etc/ansible/facts.d/asset.fact")
    assert fact.mode == 0o644
    data = json.loads(fact.content_string)
    tiers = hostvars.get("pmops_tiers", ["web", "app", "db", "backup", "monitor"])
    assert data["tier"] in tiers and data["tier"] in hostvars["group_names"]
    assert data["environment"] == hostvars["pmops_environment"]
    assert data["owner"] == hostvars["pmops_owner"]
    assert data["service"] == hostvars["pmops_service"]
    assert data["managed_by"] == "power-marketing-ops"


def test_playbooks_connect_as_the_automation_account_not_root(host, hostvars, over_ssh):
    if not over_ssh:
        pytest.skip("molecule reaches its container through podman, not SSH")
    assert hostvars["ansible_user"] != "root"
    # Tests run like the playbooks: SSH as the automation account, then sudo.
    assert host.check_output("echo $SUDO_USER") == hostvars["ansible_user"]
    assert host.user(hostvars["ansible_user"]).exists
