"""The scale lab (`pmops lab up --scale N`, pmops.lab.scale): its inventory, the generic hosts'
addresses, the inotify budget of many systemd containers, and the hosts a smaller scale drops."""

from __future__ import annotations

import pytest
import yaml

from pmops import PmopsError, cli, lab
from pmops.lab import hosts, scale


@pytest.fixture
def scale_dir(tmp_path, monkeypatch):
    """.lab/scale in a throw-away directory (below ROOT's .lab only in name); no ansible-inventory."""
    target = tmp_path / "scale"
    monkeypatch.setattr(scale, "SCALE_INVENTORY", target)
    monkeypatch.setattr(scale, "write_topology", lambda: None)
    return target


def test_generic_hosts_are_numbered_from_dot_101():
    found = scale.generic_hosts(3, "10.89.30.0/24")
    assert found == {"gen-01": {"ansible_host": "10.89.30.101"}, "gen-02": {"ansible_host": "10.89.30.102"},
                     "gen-03": {"ansible_host": "10.89.30.103"}}


@pytest.mark.parametrize(("count", "subnet", "message"), [
    (-1, "10.89.30.0/24", "from 0 to 100"),
    (101, "10.89.30.0/24", "from 0 to 100"),
    (27, "10.89.30.0/25", "gen-27's address 10.89.30.127 is outside pmops_lab_subnet"),  # its broadcast
])
def test_a_scale_the_lab_cannot_hold_is_refused_naming_it(count, subnet, message):
    with pytest.raises(PmopsError, match=message):
        scale.generic_hosts(count, subnet)


def test_the_scale_inventory_is_the_lab_plus_the_generic_tier(scale_dir):
    assert scale.write_inventory(4, "10.89.30.0/24") == scale_dir
    topo = lab.load_topology(scale_dir)
    names = [h.name for h in topo.hosts]
    assert names[:6] == [h.name for h in lab.load_topology(lab.INVENTORY).hosts]
    assert names[6:] == ["gen-01", "gen-02", "gen-03", "gen-04"]
    assert topo.host("gen-04").groups == ["pmops", "generic"] and topo.host("gen-04").ip == "10.89.30.104"
    group_vars = scale_dir / "group_vars"
    # inventory/lab's files are linked, not copied; the overlay's topology.yml replaces the lab's
    assert (group_vars / "all" / "firewall.yml").resolve() == lab.INVENTORY / "group_vars" / "all" / "firewall.yml"
    assert yaml.safe_load((group_vars / "all" / "topology.yml").read_text())["pmops_tiers"][-1] == "generic"
    assert yaml.safe_load((group_vars / "generic" / "asset.yml").read_text())["pmops_service"] == "marketing-generic"
    # the lab's static topology is not carried over: the scale lab's is written for its own hosts
    assert not (group_vars / "all" / "pmops_topology.yml").exists()


def test_the_scale_is_read_back_and_zero_removes_the_inventory(scale_dir, monkeypatch):
    monkeypatch.setattr(scale, "SCALE_INVENTORY", scale_dir)
    scale.write_inventory(2, "10.89.30.0/24")
    monkeypatch.setattr(scale, "_load_yaml", lambda path: yaml.safe_load(path.read_text()))
    assert scale.current_scale() == 2
    assert scale.write_inventory(0, "10.89.30.0/24") == lab.INVENTORY
    assert not scale_dir.exists() and scale.current_scale() == 0


class Sysctl:
    def __init__(self, value: int, writable: bool):
        self.value, self.writable = value, writable

    def read_text(self):
        return f"{self.value}\n"

    def write_text(self, text):
        if not self.writable:
            raise PermissionError("read-only")
        self.value = int(text)


def test_inotify_budget_is_raised_for_many_hosts_or_the_run_stops_naming_the_sysctl(monkeypatch):
    knob = Sysctl(128, writable=True)
    monkeypatch.setattr(hosts, "INOTIFY_SYSCTL", knob)
    hosts.ensure_inotify(6)  # enough already: untouched
    assert knob.value == 128
    hosts.ensure_inotify(54)
    assert knob.value == 54 * hosts.INOTIFY_PER_HOST + hosts.INOTIFY_MACHINE
    monkeypatch.setattr(hosts, "INOTIFY_SYSCTL", Sysctl(128, writable=False))
    with pytest.raises(PmopsError, match=r"fs.inotify.max_user_instances >= 496 \(it is 128\)"):
        hosts.ensure_inotify(54)


class Listing:
    # a bench's throw-away container has the lab's label but is no lab host
    stdout = b"pmops-web-01 web-01\npmops-gen-07 gen-07\npmops-gen-03 gen-03\npmops-lynis-bench <no value>\n"


def test_a_smaller_scale_removes_the_hosts_the_inventory_no_longer_has(monkeypatch):
    topo = lab.Topology("n", "10.89.30.0/24", "10.89.30.1", "pmops", [lab.Host("web-01", "10.89.30.11")])
    removed = []
    monkeypatch.setattr(hosts, "podman", lambda *a, **k: Listing())
    monkeypatch.setattr(hosts, "remove_containers", removed.extend)
    monkeypatch.setattr(hosts, "cached_fact_files", lambda name: [])
    hosts.remove_extra_hosts(topo)
    assert removed == ["pmops-gen-03", "pmops-gen-07"]


def test_lab_up_takes_a_scale(monkeypatch):
    seen = {}
    monkeypatch.setattr(lab, "up", lambda scale=None: seen.setdefault("scale", scale) and 0)
    assert cli.main(["lab", "up", "--scale", "12"]) == 0
    assert seen == {"scale": 12}
