"""The lab: six podman containers running systemd and sshd, built from a Debian 12 image made
with debootstrap (no image registry is reachable); `pmops lab up [--scale N]`, `down`, `status`,
`image`, `secrets` and `ssh`.

Layer: command (`pmops lab`), and the drills' and benches' toolkit for the lab. It uses
pmops.runner only to write the scale lab's static topology (scale), never pmops.controls, and
nothing below the commands imports it.

One module per concern:
  base     the topology read from inventory/lab, where the lab keeps its state, podman
  image    the base image: debootstrap build, tag by recipe digest, cache
  hosts    the hosts and their network: containers, up / down / status, provisioning of the
           automation account, SSH to the hosts, the fact cache of re-created hosts
  secrets  keys, known_hosts, the lab CA and host certificates, people's keys, service passwords
  scale    the scale lab: N generic hosts beside the six, and its inventory under .lab/scale
  node     an execution node reached over SSH (`--worker ssh:`) for the AWX drills and bench

`from pmops import lab` gives every public name of the first five, as the single module gave them
before (the CLI, scripts, benches and the lab tests and drills use it). The names here are
copies: to replace one in a test, patch the module that looks it up (`hosts.podman` for
`up`'s podman calls, `secrets.PKI_DIR` for ensure_pki), not this package.
"""

from __future__ import annotations

from pmops.lab.base import (AUTOMATION_USER_DEFAULT, CONTAINER_PREFIX, CONTAINERS_CONF, INVENTORY, LABEL,
                            SCALE_INVENTORY, STATE_DIR, Host, Topology, active_inventory, load_topology, podman,
                            podman_env)
from pmops.lab.hosts import (FACT_CACHE, PROVISION, as_root, cached_fact_files, cached_facts, check_ports,
                             clear_fact_cache, container_state, create_container, down, ensure_network, host_key_line,
                             port_free, process_alive, provision, remove_containers, ssh, ssh_base, ssh_port_open,
                             status, up, wait_for_ssh, wait_for_systemd)
from pmops.lab.image import (BUILD_DIR, IMAGE_REPO, RECIPE, SETUP_SCRIPT, apt_mirror, build_image, ensure_image,
                             image_exists, image_tag, read_recipe, remove_build_dir, remove_images)
from pmops.lab.scale import current_scale, generic_hosts, write_inventory
from pmops.lab.secrets import (ACCESS_FILE, KEY_FILE, KNOWN_HOSTS, LAB_PASSWORDS, PEOPLE_DIR, PKI_DIR, SECRETS_DIR,
                               SSH_DIR, ensure_keypair, ensure_passwords, ensure_people_keys, ensure_pki,
                               ensure_secrets, people_key_names, remove_secrets)

__all__ = [
    "ACCESS_FILE", "AUTOMATION_USER_DEFAULT", "BUILD_DIR", "CONTAINERS_CONF", "CONTAINER_PREFIX", "FACT_CACHE",
    "IMAGE_REPO", "INVENTORY", "KEY_FILE", "KNOWN_HOSTS", "LABEL", "LAB_PASSWORDS", "PEOPLE_DIR", "PKI_DIR",
    "PROVISION", "RECIPE", "SCALE_INVENTORY", "SECRETS_DIR", "SETUP_SCRIPT", "SSH_DIR", "STATE_DIR", "Host",
    "Topology", "active_inventory", "apt_mirror", "as_root", "build_image", "cached_fact_files", "cached_facts",
    "check_ports", "clear_fact_cache", "container_state", "create_container", "current_scale", "down",
    "ensure_image", "ensure_keypair", "ensure_network", "ensure_passwords", "ensure_people_keys", "ensure_pki",
    "ensure_secrets", "generic_hosts", "host_key_line", "image_exists", "image_tag", "load_topology",
    "people_key_names", "podman", "podman_env", "port_free", "process_alive", "provision", "read_recipe",
    "remove_build_dir", "remove_containers", "remove_images", "remove_secrets", "ssh", "ssh_base",
    "ssh_port_open", "status", "up", "wait_for_ssh", "wait_for_systemd", "write_inventory",
]
