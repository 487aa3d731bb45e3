"""Facts about the host a role runs on, shared by every role."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pmops_in_container
short_description: Tell from gathered facts whether the host is a container
description:
  - True when C(ansible_facts) say the host is a container guest (podman, docker, lxc,
    systemd-nspawn, ...). Roles use it to apply what a container can hold and to report the
    rest (kernel parameters, modules, the clock, the hostname) as not applicable.
options:
  _input:
    description: C(ansible_facts) of the host.
    type: dict
    required: true
"""

EXAMPLES = r"""
__hardening_is_container: "{{ ansible_facts | pmops_in_container }}"
"""

RETURN = r"""
_value:
  description: Whether the host is a container.
  type: bool
"""

CONTAINER_TYPES = frozenset({"podman", "docker", "container", "containerd", "lxc", "systemd-nspawn"})


def pmops_in_container(facts) -> bool:
    facts = facts or {}
    return facts.get("virtualization_role") == "guest" and facts.get("virtualization_type") in CONTAINER_TYPES


class FilterModule:
    def filters(self):
        return {"pmops_in_container": pmops_in_container}
