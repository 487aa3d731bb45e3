"""Testinfra set-up shared by the lab (`make lab-verify`), molecule and compliance runs.

Expected values come from the inventory (host.ansible.get_variables()) laid over the
role defaults, so the tests check what the inventory asks for, not copies of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

ROOT = Path(__file__).resolve().parents[2]
# testinfra's SSH connections share Ansible's master connections (ansible.cfg: control_path
# under [persistent_connection] control_path_dir), but only when that directory exists, and
# Mitogen never makes it. Without it every command was a new login: lab-verify took 4:13.
(ROOT / ".cache" / "cp").mkdir(parents=True, exist_ok=True)


def role_defaults(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


@pytest.fixture(scope="module")
def hostvars(host, request) -> dict:
    if host.backend.HAS_RUN_ANSIBLE:
        return host.ansible.get_variables()
    # molecule reaches its container with `podman exec` (podman://name: a command costs
    # about 0.1 s, against 3 s through Ansible's podman connection); its variables are still
    # the inventory's
    inventory = request.config.option.ansible_inventory
    return AnsibleRunner.get_runner(inventory).get_variables(host.backend.get_hostname())


def role_inputs(role: str, hostvars: dict) -> dict:
    """The role's defaults overlaid with what the inventory sets for this host."""
    merged = role_defaults(role)
    merged.update({k: v for k, v in hostvars.items() if k.startswith(f"{role}_")})
    return merged


@pytest.fixture(scope="module")
def baseline(hostvars) -> dict:
    return role_inputs("baseline", hostvars)


@pytest.fixture(scope="module")
def over_ssh(hostvars) -> bool:
    """True on the lab and real servers; False under molecule's podman connection."""
    return hostvars.get("ansible_connection", "ssh") in ("ssh", "ansible.builtin.ssh")


@pytest.fixture(scope="module")
def ssh_role(hostvars) -> dict:
    return role_inputs("ssh", hostvars)


def ssh_command(hostvars: dict, user: str | None = None, *extra: str) -> list[str]:
    """A fresh SSH login from the control node, as Ansible makes it but with no reused master."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
            "-o", "ConnectTimeout=10"]
    if hostvars.get("ansible_ssh_private_key_file"):
        argv += ["-i", hostvars["ansible_ssh_private_key_file"]]
    argv += hostvars.get("ansible_ssh_common_args", "").split()
    argv += list(extra)
    argv.append(f"{user or hostvars['ansible_user']}@{hostvars.get('ansible_host', hostvars['inventory_hostname'])}")
    return argv


@pytest.fixture(scope="module")
def hardening(hostvars) -> dict:
    return role_inputs("hardening", hostvars)


@pytest.fixture(scope="module")
def in_container(host) -> bool:
    return host.run("systemd-detect-virt --container").stdout.strip() not in ("", "none")
