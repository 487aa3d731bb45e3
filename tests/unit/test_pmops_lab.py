"""pmops lab: topology from the inventory, image identity, clear errors. No podman needed."""

import os
import shlex
import shutil
import socket
import subprocess
import textwrap

import pytest

from pmops import PmopsError, cli, lab
from pmops.lab import base, hosts, image, secrets


def test_topology_comes_from_the_lab_inventory():
    topo = lab.load_topology(lab.INVENTORY)
    names = [h.name for h in topo.hosts]
    assert names == ["web-01", "app-01", "app-02", "db-01", "backup-01", "monitor-01"]
    assert topo.host("db-01").ip == "10.89.30.31"
    assert topo.host("app-02").groups == ["pmops", "app"]
    assert topo.user == "pmops"
    assert topo.subnet == "10.89.30.0/24"


def test_unknown_host_lists_the_lab_hosts():
    with pytest.raises(PmopsError, match="unknown lab host 'db-9'; the lab has: web-01"):
        lab.load_topology(lab.INVENTORY).host("db-9")


def write_inventory(tmp_path, hosts_yml, lab_yml):
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "hosts.yml").write_text(textwrap.dedent(hosts_yml))
    (tmp_path / "group_vars" / "all" / "lab.yml").write_text(textwrap.dedent(lab_yml))
    return tmp_path


LAB_YML = """
pmops_lab_network: t
pmops_lab_subnet: 10.89.99.0/24
pmops_lab_gateway: 10.89.99.1
"""


@pytest.mark.parametrize(
    ("hosts_yml", "lab_yml", "message"),
    [
        ("pmops: {children: {web: {hosts: {w: {ansible_host: 10.1.1.1}}}}}", LAB_YML,
         "w: ansible_host 10.1.1.1 is outside pmops_lab_subnet 10.89.99.0/24"),
        ("pmops: {hosts: {w: {ansible_host: 10.89.99.2}}}", "pmops_lab_network: t\n", "pmops_lab_subnet is not set"),
        ("pmops: {hosts: {w: {}}}", LAB_YML, "lab host w has no ansible_host"),
        ("pmops: [unclosed", LAB_YML, "hosts.yml is not valid YAML"),
    ],
    ids=["outside-subnet", "no-subnet", "no-address", "bad-yaml"],
)
def test_bad_lab_inventory_is_refused_with_a_clear_error(tmp_path, monkeypatch, hosts_yml, lab_yml, message):
    monkeypatch.setattr(base, "ROOT", tmp_path.parent)
    inv = write_inventory(tmp_path, hosts_yml, lab_yml)
    with pytest.raises(PmopsError, match=message):
        lab.load_topology(inv)


def test_image_tag_is_stable_and_follows_the_recipe(tmp_path, monkeypatch):
    first = lab.image_tag()
    assert first == lab.image_tag()
    assert first.startswith("localhost/pmops-lab-base:")
    recipe = tmp_path / "recipe.conf"
    recipe.write_text(lab.RECIPE.read_text() + "# changed\n")
    monkeypatch.setattr(image, "RECIPE", recipe)
    assert lab.image_tag() != first


def test_recipe_names_what_the_lab_needs():
    include = lab.read_recipe()["include"].split(",")
    for pkg in ("systemd", "python3", "openssh-server", "sudo"):
        assert pkg in include


def test_apt_mirror_is_a_debian_archive():
    mirror = lab.apt_mirror()
    assert mirror.startswith("http") and mirror.endswith("/debian")


def test_port_taken_is_detected():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not lab.port_free(sock.getsockname()[1])


def test_port_taken_stops_container_creation_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(hosts, "port_free", lambda port: False)
    host = lab.Host("web-01", "10.89.30.11", publish=[{"host_port": 18443, "container_port": 443}])
    with pytest.raises(PmopsError, match="port 18443 on 127.0.0.1 is taken"):
        lab.create_container(host, lab.load_topology(lab.INVENTORY), "img")


def test_a_host_keeps_one_mac_address_made_from_its_ip(monkeypatch):
    """Podman gives a container a new random MAC at each start, and its neighbours' ARP caches
    then point at the old one: the lab fixes it, as a server's network card does."""
    assert hosts.mac_address("10.89.30.41") == "02:50:0a:59:1e:29"
    calls = []
    monkeypatch.setattr(hosts, "podman", lambda *args, **kw: calls.append(args))
    lab.create_container(lab.Host("backup-01", "10.89.30.41"), lab.load_topology(lab.INVENTORY), "img")
    args = list(calls[0])
    assert args[args.index("--ip") + 1] == "10.89.30.41"
    assert args[args.index("--mac-address") + 1] == "02:50:0a:59:1e:29"


def test_missing_podman_is_a_clear_error(monkeypatch, capsys):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "podman" else real_which(name))
    assert cli.main(["lab", "status"]) == 2
    assert "podman is not installed; run `make setup`" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["lab"], ["lab", "up"], ["lab", "down"], ["lab", "status"],
                                  ["lab", "ssh"], ["lab", "image"], ["audit"]])
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv + ["--help"])
    assert exc.value.code == 0
    assert "usage: pmops" in capsys.readouterr().out


def test_ssh_to_unknown_host_is_refused(capsys):
    assert cli.main(["lab", "ssh", "nope-01"]) == 2
    assert "unknown lab host 'nope-01'" in capsys.readouterr().err


def test_cached_facts_reads_ansible_219_jsonfile_cache(tmp_path, monkeypatch):
    import json
    monkeypatch.setattr(hosts, "FACT_CACHE", tmp_path)
    payload = {"ansible_local": {"asset": {"tier": "db"}}}
    (tmp_path / "s1_db-01").write_text(json.dumps({"__payload__": json.dumps(payload)}))
    (tmp_path / "s1_db-011").write_text("{}")
    assert lab.cached_facts("db-01") == payload
    assert lab.cached_facts("web-01") == {}
    lab.clear_fact_cache(lab.Topology("n", "10.0.0.0/24", "10.0.0.1", "pmops", [lab.Host("db-01", "10.0.0.2")]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1_db-011"]


def test_lab_pki_makes_a_ca_and_one_certificate_per_host_once(tmp_path, monkeypatch):
    monkeypatch.setattr(secrets, "PKI_DIR", tmp_path / "pki")
    topo = lab.load_topology(lab.INVENTORY)
    lab.ensure_pki(topo)
    pki = tmp_path / "pki"
    for host in topo.hosts:
        crt = pki / f"{host.name}.crt"
        verify = subprocess.run(["openssl", "verify", "-CAfile", str(pki / "ca.crt"), str(crt)],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
        san = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-ext", "subjectAltName"],
                             capture_output=True, text=True).stdout
        assert f"DNS:{host.name}" in san and f"IP Address:{host.ip}" in san
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in pki.iterdir())
    before = {p.name: p.read_bytes() for p in pki.iterdir()}
    lab.ensure_pki(topo)
    assert {p.name: p.read_bytes() for p in pki.iterdir()} == before


def test_audit_of_a_missing_inventory_is_a_clear_error(capsys):
    assert cli.main(["audit", "-i", "inventory/nowhere"]) == 2
    assert "inventory inventory/nowhere does not exist" in capsys.readouterr().err


def test_as_root_runs_the_command_whole_through_sudo_on_the_hosts_address(monkeypatch):
    seen = {}
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: seen.setdefault("argv", argv))
    command = "printf 'a b\\n' > /tmp/x && echo \"$HOME\""
    lab.as_root("db-01", command)
    topo = lab.load_topology(lab.INVENTORY)
    argv = seen["argv"]
    assert argv[-6:-1] == [f"{topo.user}@{topo.host('db-01').ip}", "sudo", "-n", "bash", "-c"]
    assert shlex.split(argv[-1]) == [command]  # the remote shell hands bash exactly this one word


def test_up_provisions_only_the_hosts_it_starts_and_reads_the_others_keys(tmp_path, monkeypatch):
    """A drill stops one host and brings the lab up while drills beside it log in elsewhere:
    the running hosts' authorized_keys must not be rewritten under them."""
    topo = lab.load_topology(lab.INVENTORY)
    known, key = tmp_path / "known_hosts", tmp_path / "id_ed25519"
    key.with_suffix(".pub").write_text("ssh-ed25519 AAAA test\n")
    known.write_text("old\n")  # newer than the key: the key did not change
    monkeypatch.setattr(hosts, "KNOWN_HOSTS", known)
    monkeypatch.setattr(hosts, "KEY_FILE", key)
    stopped = topo.hosts[0].name
    monkeypatch.setattr(hosts, "ensure_image", lambda: ("tag", False))
    monkeypatch.setattr(hosts, "container_state", lambda name: {
        "running": not name.endswith(stopped), "lost": False, "image": "tag", "labels": {lab.LABEL: "1"}})
    for name in ("ensure_network", "ensure_secrets", "check_ports", "clear_fact_cache", "remove_extra_hosts",
                 "ensure_inotify"):
        monkeypatch.setattr(hosts, name, lambda *a, **k: None)
    monkeypatch.setattr(hosts, "podman", lambda *a, **k: None)
    monkeypatch.setattr(hosts, "wait_for_ssh", lambda *a, **k: None)
    provisioned, read = [], []
    monkeypatch.setattr(hosts, "provision", lambda host, t: provisioned.append(host.name) or f"{host.name} p")
    monkeypatch.setattr(hosts, "host_key_line", lambda host: read.append(host.name) or f"{host.name} r")
    assert lab.up(topo) == 0
    assert provisioned == [stopped] and sorted(read) == sorted(h.name for h in topo.hosts[1:])
    assert len(known.read_text().splitlines()) == len(topo.hosts)
    # a new automation key: every host learns it
    provisioned.clear()
    known.write_text("old\n")
    os.utime(known, (1, 1))
    assert lab.up(topo) == 0
    assert sorted(provisioned) == sorted(h.name for h in topo.hosts)


def lab_keys(tmp_path, monkeypatch):
    """An automation key and a known_hosts newer than it: the key did not change."""
    known, key = tmp_path / "known_hosts", tmp_path / "id_ed25519"
    key.with_suffix(".pub").write_text("ssh-ed25519 AAAA test\n")
    known.write_text("old\n")
    monkeypatch.setattr(hosts, "KNOWN_HOSTS", known)
    monkeypatch.setattr(hosts, "KEY_FILE", key)
    return known


def test_a_running_host_of_an_older_image_is_replaced_although_it_holds_its_own_port(tmp_path, monkeypatch):
    """CI found it: the lab of an older image was up, and `pmops lab up` refused web-01's
    published port, held by the very container it was about to replace."""
    topo = lab.load_topology(lab.INVENTORY)
    lab_keys(tmp_path, monkeypatch)
    monkeypatch.setattr(hosts, "ensure_image", lambda: ("new", False))
    monkeypatch.setattr(hosts, "container_state", lambda name: {"running": True, "lost": False, "image": "old",
                                                               "labels": {lab.LABEL: "1"}})
    removed = []
    monkeypatch.setattr(hosts, "remove_containers", lambda names: removed.extend(names))
    monkeypatch.setattr(hosts, "port_free", lambda port: bool(removed))  # free once its holder is gone
    for name in ("ensure_network", "ensure_secrets", "clear_fact_cache", "wait_for_ssh", "remove_extra_hosts",
                 "ensure_inotify"):
        monkeypatch.setattr(hosts, name, lambda *a, **k: None)
    monkeypatch.setattr(hosts, "podman", lambda *a, **k: None)
    monkeypatch.setattr(hosts, "provision", lambda host, t: f"{host.name} p")
    assert lab.up(topo) == 0
    assert sorted(removed) == sorted(h.container for h in topo.hosts)


def test_a_container_whose_processes_are_gone_is_not_running(monkeypatch):
    """CI found it: on a machine restored from a snapshot, podman reports "running" for
    containers whose processes died with the old machine, and `podman exec` and `start` fail."""
    inspect = ('[{"State": {"Running": true, "Status": "running", "Pid": %d}, '
               '"ImageName": "tag", "Config": {"Labels": {}}}]')
    for pid in (0, 2 ** 22 + 1, os.getpid()):  # none, a PID that cannot exist, a process that is not systemd
        monkeypatch.setattr(hosts, "podman", lambda *a, pid=pid, **k: subprocess.CompletedProcess(
            a, 0, (inspect % pid).encode(), b""))
        state = lab.container_state("pmops-web-01")
        assert state["lost"] and not state["running"] and state["status"] == "lost"


def test_up_re_creates_a_host_whose_processes_are_gone(tmp_path, monkeypatch):
    topo = lab.load_topology(lab.INVENTORY)
    lab_keys(tmp_path, monkeypatch)
    lost = topo.hosts[0]
    monkeypatch.setattr(hosts, "ensure_image", lambda: ("tag", False))
    monkeypatch.setattr(hosts, "container_state", lambda name: {
        "running": name != lost.container, "lost": name == lost.container, "image": "tag",
        "labels": {lab.LABEL: "1"}})
    removed, created, started = [], [], []
    monkeypatch.setattr(hosts, "remove_containers", lambda names: removed.extend(names))
    monkeypatch.setattr(hosts, "create_container", lambda host, t, tag: created.append(host.name))
    monkeypatch.setattr(hosts, "podman", lambda *a, **k: started.append(a))
    for name in ("ensure_network", "ensure_secrets", "check_ports", "clear_fact_cache", "wait_for_ssh", "remove_extra_hosts", "ensure_inotify"):
        monkeypatch.setattr(hosts, name, lambda *a, **k: None)
    monkeypatch.setattr(hosts, "provision", lambda host, t: f"{host.name} p")
    monkeypatch.setattr(hosts, "host_key_line", lambda host: f"{host.name} r")
    assert lab.up(topo) == 0
    assert removed == [lost.container] and created == [lost.name] and started == []
