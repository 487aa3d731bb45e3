"""What every part of the lab shares: its topology, read from ``inventory/lab`` (hosts,
addresses, network: the inventory is the one place it is written down), where it keeps its
state (.lab/), and podman, run with the lab's containers.conf.

Layer: command, part of pmops.lab; the other lab modules build on it, it imports none of them.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pmops import PmopsError
from pmops.paths import CONTAINERS_CONF, ROOT

LABEL = "pmops.lab"
CONTAINER_PREFIX = "pmops-"
AUTOMATION_USER_DEFAULT = "pmops"

STATE_DIR = ROOT / ".lab"
INVENTORY = ROOT / "inventory" / "lab"
# The scale lab's inventory (`pmops lab up --scale N`): inventory/lab, the generic tier's overlay
# (lab/scale/) and N generic hosts, written by pmops.lab.scale. While it exists it is the lab.
SCALE_INVENTORY = STATE_DIR / "scale"


def active_inventory() -> Path:
    """The lab's inventory as it is: the scale lab's while one is up, else inventory/lab."""
    return SCALE_INVENTORY if (SCALE_INVENTORY / "hosts.yml").exists() else INVENTORY


@dataclass
class Host:
    name: str
    ip: str
    groups: list[str] = field(default_factory=list)
    publish: list[dict] = field(default_factory=list)

    @property
    def container(self) -> str:
        return CONTAINER_PREFIX + self.name


@dataclass
class Topology:
    network: str
    subnet: str
    gateway: str
    user: str
    hosts: list[Host]

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise PmopsError(
            f"unknown lab host {name!r}; the lab has: "
            + ", ".join(h.name for h in self.hosts)
        )


def _walk_groups(node: dict, group: str, parents: list[str], found: dict) -> None:
    node = node or {}
    for name, hvars in (node.get("hosts") or {}).items():
        entry = found.setdefault(name, {"vars": {}, "groups": []})
        entry["vars"].update(hvars or {})
        entry["groups"].extend(g for g in parents + [group] if g not in entry["groups"])
    for child, sub in (node.get("children") or {}).items():
        _walk_groups(sub, child, parents + [group], found)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _load_yaml(path: Path) -> dict:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise PmopsError(f"{_shown(path)} is missing") from None
    except yaml.YAMLError as exc:
        raise PmopsError(f"{_shown(path)} is not valid YAML: {exc}") from None


def load_topology(inventory: Path | None = None) -> Topology:
    """Read hosts, addresses and network of the lab from its inventory (default: the active one)."""
    inventory = inventory or active_inventory()
    found: dict = {}
    for group, node in _load_yaml(inventory / "hosts.yml").items():
        _walk_groups(node, group, [], found)
    allvars: dict = {}
    for path in sorted((inventory / "group_vars" / "all").glob("*.yml")):
        allvars.update(_load_yaml(path))
    for key in ("pmops_lab_network", "pmops_lab_subnet", "pmops_lab_gateway"):
        if key not in allvars:
            raise PmopsError(f"{key} is not set in {_shown(inventory)}/group_vars/all")
    subnet = ipaddress.ip_network(allvars["pmops_lab_subnet"])
    publish = allvars.get("pmops_lab_publish") or {}
    hosts = []
    for name, entry in found.items():
        ip = entry["vars"].get("ansible_host")
        if not ip:
            raise PmopsError(f"lab host {name} has no ansible_host in {_shown(inventory)}/hosts.yml")
        if ipaddress.ip_address(ip) not in subnet:
            raise PmopsError(f"lab host {name}: ansible_host {ip} is outside pmops_lab_subnet {subnet}")
        hosts.append(Host(name, ip, entry["groups"], publish.get(name, [])))
    return Topology(
        network=allvars["pmops_lab_network"],
        subnet=str(subnet),
        gateway=allvars["pmops_lab_gateway"],
        user=allvars.get("ansible_user", AUTOMATION_USER_DEFAULT),
        hosts=hosts,
    )


def podman_env() -> dict:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def podman(*args: str, check: bool = True):
    if shutil.which("podman") is None:
        raise PmopsError("podman is not installed; run `make setup` (it installs podman, runc and debootstrap)")
    proc = subprocess.run(["podman", *args], env=podman_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and proc.returncode != 0:
        err = (proc.stderr or b"").decode(errors="replace").strip()
        raise PmopsError(f"podman {' '.join(args[:3])} failed: {err}")
    return proc


def _out(proc) -> str:
    return (proc.stdout or b"").decode().strip()
