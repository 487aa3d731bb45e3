"""The lab's hosts and network: six podman containers running systemd and sshd on their own
podman network, `pmops lab up`, `down` and `status`, the automation account provisioned on each
host, and SSH to them with the lab's key and known_hosts. Everything the lab makes carries the
label ``pmops.lab`` so that ``down`` removes exactly what ``up`` made.

Layer: command, part of pmops.lab; builds on base, image and secrets.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pmops import PmopsError, progress
from pmops.lab.base import CONTAINER_PREFIX, INVENTORY, LABEL, Host, Topology, _out, load_topology, podman
from pmops.lab.image import ensure_image, image_exists, image_tag, remove_build_dir, remove_images
from pmops.lab.scale import current_scale, remove_inventory, write_inventory
from pmops.lab.secrets import KEY_FILE, KNOWN_HOSTS, ensure_secrets, remove_secrets
from pmops.paths import CACHE, ROOT

FACT_CACHE = CACHE / "facts"


def ensure_network(topo: Topology) -> None:
    proc = podman("network", "inspect", topo.network, check=False)
    if proc.returncode == 0:
        info = yaml.safe_load(_out(proc))[0]
        subnets = [s.get("subnet") for s in info.get("subnets") or []]
        if topo.subnet in subnets:
            return
        # A network of ours with another subnet is a leftover: replace it.
        if (info.get("labels") or {}).get(LABEL) == "1":
            podman("network", "rm", "-f", topo.network)
        else:
            raise PmopsError(
                f"podman network {topo.network} exists with subnet {subnets} and was not made by pmops; "
                "remove it or change pmops_lab_network")
    # Refuse a subnet another podman network already holds.
    for name in _out(podman("network", "ls", "--format", "{{.Name}}")).splitlines():
        info = yaml.safe_load(_out(podman("network", "inspect", name)))[0]
        if topo.subnet in [s.get("subnet") for s in info.get("subnets") or []]:
            raise PmopsError(
                f"subnet {topo.subnet} is taken by podman network {name}; change pmops_lab_subnet")
    podman("network", "create", "--label", f"{LABEL}=1", "--subnet", topo.subnet,
           "--gateway", topo.gateway, topo.network)



def container_state(name: str) -> dict | None:
    proc = podman("container", "inspect", name, check=False)
    if proc.returncode != 0:
        return None
    info = yaml.safe_load(_out(proc))[0]
    running = bool(info["State"]["Running"])
    lost = running and not process_alive(int(info["State"].get("Pid") or 0))
    return {
        "running": running and not lost,
        "lost": lost,
        "status": "lost" if lost else info["State"]["Status"],
        "image": info.get("ImageName", ""),
        "labels": info["Config"].get("Labels") or {},
    }


def process_alive(pid: int) -> bool:
    """Whether a lab container's init (systemd, the image's PID 1) still runs.

    podman keeps its containers' state in /run and learns of a reboot when /run is wiped.
    A machine restored from a snapshot keeps /run but not the processes: podman then reports
    "running" for a container whose processes are gone, refuses to exec in it or to start it,
    and `podman stop` leaves it "stopping" for good. Only removing it helps.
    """
    try:
        return pid > 0 and Path(f"/proc/{pid}/comm").read_text().strip() == "systemd"
    except OSError:
        return False


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ports(hosts: list[Host]) -> None:
    """Refuse, before anything is created, a published port another program holds."""
    for host in hosts:
        for pub in host.publish:
            if not port_free(int(pub["host_port"])):
                raise PmopsError(
                    f"port {pub['host_port']} on 127.0.0.1 is taken by another program, so {host.name} "
                    f"cannot publish its port {pub['container_port']}; free it or change pmops_lab_publish "
                    "in inventory/lab/group_vars/all/lab.yml")


def mac_address(ip: str) -> str:
    """A fixed, locally administered MAC address made from the host's IPv4 address. Podman
    gives a container a new random one at each start, and its neighbours' ARP caches then
    point at the old one for a while: a restarted backup-01 was unreachable from db-01 (a
    real server keeps its network card's address across a reboot)."""
    return ":".join(["02", "50", *(f"{int(octet):02x}" for octet in ip.split("."))])


def create_container(host: Host, topo: Topology, tag: str) -> None:
    check_ports([host])
    args = [
        "run", "--detach", "--name", host.container, "--hostname", host.name,
        "--label", f"{LABEL}=1", "--label", f"pmops.lab.host={host.name}",
        "--network", topo.network, "--ip", host.ip, "--mac-address", mac_address(host.ip),
        "--systemd=always", "--no-hosts",
        # nftables (the firewall role) needs it; rules stay in the host's own namespace.
        "--cap-add", "NET_ADMIN", "--cap-add", "AUDIT_WRITE",
    ]
    for pub in host.publish:
        args += ["--publish", f"127.0.0.1:{pub['host_port']}:{pub['container_port']}"]
    args += [tag, "/sbin/init"]
    podman(*args)


PROVISION = r"""
set -eu
# What a cloud-init or kickstart does for production: the automation account, its key,
# and sudo; then fresh host keys for this host.
if ! id "$PMOPS_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash --comment "Power Marketing Ops automation" "$PMOPS_USER"
fi
install -d -m 0700 -o "$PMOPS_USER" -g "$PMOPS_USER" "/home/$PMOPS_USER/.ssh"
printf '%s\n' "$PMOPS_KEY" > "/home/$PMOPS_USER/.ssh/authorized_keys"
chown "$PMOPS_USER:$PMOPS_USER" "/home/$PMOPS_USER/.ssh/authorized_keys"
chmod 0600 "/home/$PMOPS_USER/.ssh/authorized_keys"
printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$PMOPS_USER" > /etc/sudoers.d/00-pmops-automation
chmod 0440 /etc/sudoers.d/00-pmops-automation
visudo -cq
if ! systemctl is-active --quiet ssh; then
  # Clears a start limit hit while the host booted; a unit that never failed has none to clear.
  systemctl reset-failed ssh 2>/dev/null || true
  systemctl start ssh
fi
cat /etc/ssh/ssh_host_ed25519_key.pub
"""


def wait_for_systemd(container: str, timeout: float = 90) -> None:
    state = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _out(podman("exec", container, "systemctl", "is-system-running", check=False))
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise PmopsError(f"{container}: systemd did not finish booting within {timeout:.0f} s (state {state!r})")


def provision(host: Host, topo: Topology) -> str:
    wait_for_systemd(host.container)
    pubkey = KEY_FILE.with_suffix(".pub").read_text().strip()
    proc = podman("exec", "-e", f"PMOPS_USER={topo.user}", "-e", f"PMOPS_KEY={pubkey}",
                  host.container, "/bin/sh", "-c", PROVISION)
    return _known_hosts_line(host, _out(proc).splitlines()[-1])


def host_key_line(host: Host) -> str:
    """The known_hosts line of a running host that needs no provisioning (read only)."""
    return _known_hosts_line(host, _out(podman("exec", host.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")))


def _known_hosts_line(host: Host, hostkey: str) -> str:
    return f"{host.name},{host.ip} {' '.join(hostkey.split()[:2])}"


def ssh_base(batch: bool = True) -> list[str]:
    argv = ["ssh", "-i", str(KEY_FILE), "-o", f"UserKnownHostsFile={KNOWN_HOSTS}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ConnectTimeout=5"]
    if batch:
        argv += ["-o", "BatchMode=yes"]
    return argv


def wait_for_ssh(host: Host, topo: Topology, timeout: float = 60) -> None:
    """A fresh SSH login as the automation account (no reused master connection)."""
    deadline = time.monotonic() + timeout
    err = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(ssh_base() + [f"{topo.user}@{host.ip}", "sudo", "-n", "true"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if proc.returncode == 0:
            return
        err = proc.stderr.decode(errors="replace").strip()
        time.sleep(1)
    raise PmopsError(f"{host.name}: no SSH login as {topo.user}@{host.ip} within {timeout:.0f} s: {err}")


def clear_fact_cache(topo: Topology) -> None:
    # Facts of a host that was re-created must not be served from the cache.
    for host in topo.hosts:
        for path in cached_fact_files(host.name):
            path.unlink(missing_ok=True)


def cached_fact_files(host: str) -> list[Path]:
    """ansible-core 2.19's jsonfile cache names files <serializer>_<host> (s1_web-01)."""
    if not FACT_CACHE.is_dir():
        return []
    return [p for p in FACT_CACHE.iterdir() if p.name == host or p.name.endswith("_" + host)]


def cached_facts(host: str) -> dict:
    for path in cached_fact_files(host):
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("__payload__"), str):
                data = json.loads(data["__payload__"])
            return data
        except (OSError, ValueError):
            continue
    return {}


# inotify instances each host's systemd, journald and services hold (measured: 7 on a converged
# lab host), and what the machine's own programs need beside them.
INOTIFY_PER_HOST = 8
INOTIFY_MACHINE = 64
INOTIFY_SYSCTL = Path("/proc/sys/fs/inotify/max_user_instances")


def ensure_inotify(hosts: int) -> None:
    """Every container's systemd runs as root on the machine and takes inotify instances from
    one per-user budget (fs.inotify.max_user_instances, 128 on Debian): past about 16 hosts a
    new container's systemd fails to boot ("Too many open files"). Raise it for the scale lab
    when this process may, else refuse before any host is made."""
    need = hosts * INOTIFY_PER_HOST + INOTIFY_MACHINE
    try:
        have = int(INOTIFY_SYSCTL.read_text())
    except (OSError, ValueError):
        return
    if have >= need:
        return
    try:
        INOTIFY_SYSCTL.write_text(f"{need}\n")
    except OSError:
        raise PmopsError(f"{hosts} lab hosts need fs.inotify.max_user_instances >= {need} (it is {have}); "
                         f"run `sysctl -w fs.inotify.max_user_instances={need}` as root") from None
    progress(f"raised fs.inotify.max_user_instances from {have} to {need} for {hosts} hosts' systemd")


def remove_extra_hosts(topo: Topology) -> None:
    """Lab hosts whose host the inventory no longer has (the scale lab made smaller). Only
    containers labelled as a lab host: a bench's throw-away container carries the lab's label too."""
    names = {h.name for h in topo.hosts}
    made = [line.split() for line in _out(podman("ps", "--all", "--filter", f"label={LABEL}=1", "--format",
                                                 '{{.Names}} {{index .Labels "pmops.lab.host"}}')).splitlines()]
    # A container without the host label lists "<no value>": three words.
    extra = sorted(words[0] for words in made if len(words) == 2 and words[1] not in names)
    if extra:
        progress(f"removing {len(extra)} hosts the inventory no longer has: {' '.join(extra)}")
        remove_containers(extra)
        for name in extra:
            for path in cached_fact_files(name.removeprefix(CONTAINER_PREFIX)):
                path.unlink(missing_ok=True)


def up(topo: Topology | None = None, scale: int | None = None) -> int:
    """Bring the lab up; with scale, first (re)write the scale lab's inventory for that many
    generic hosts (0 removes it), and remove the hosts it no longer has."""
    count = current_scale() if scale is None else scale
    if topo is None and (count or scale is not None):
        # Written again at the same scale too: inventory/lab's hosts or variables may have changed.
        write_inventory(count, load_topology(INVENTORY).subnet)
    topo = topo or load_topology()
    started = time.monotonic()
    tag, built = ensure_image()
    if not built:
        progress(f"image {tag} is cached (recipe unchanged)")
    remove_extra_hosts(topo)
    ensure_inotify(len(topo.hosts))
    states = {h.name: container_state(h.container) for h in topo.hosts}
    # Hosts whose automation account is (re)written below: those created or started here, or
    # every host when the running lab does not answer this checkout's key. A host that runs
    # and answers is left alone: rewriting its authorized_keys under a drill's login (a drill
    # that stops one host and brings it back runs beside others) would refuse that login.
    reprovision_all = False
    if all(s and s["running"] and s["image"] == tag for s in states.values()) and KNOWN_HOSTS.exists():
        try:
            for host in topo.hosts:
                wait_for_ssh(host, topo, timeout=10)
        except PmopsError as exc:
            # Running, but not with this checkout's key or known_hosts (another clone made
            # it, or .lab/ was removed): provision the accounts and host keys again.
            progress(f"lab is running but not reachable with this checkout's key ({exc}); re-provisioning")
            reprovision_all = True
        else:
            ensure_secrets(topo)
            progress(f"lab already up: {len(topo.hosts)} hosts running and reachable; nothing to do")
            return 0
    elif not KNOWN_HOSTS.exists():
        reprovision_all = True
    stale = [h for h in topo.hosts if states[h.name] and states[h.name]["image"] != tag]
    # A running stale container holds its own published port until it is replaced (then
    # create_container checks the port again), so only the others are checked up front.
    check_ports([h for h in topo.hosts
                 if states[h.name] is None or states[h.name]["lost"]
                 or (h in stale and not states[h.name]["running"])])
    ensure_network(topo)
    ensure_secrets(topo)
    if KNOWN_HOSTS.exists() and KEY_FILE.with_suffix(".pub").stat().st_mtime > KNOWN_HOSTS.stat().st_mtime:
        reprovision_all = True  # a new automation key: every host must learn it
    recreated = False
    touched = set()
    create = []
    for host in topo.hosts:
        state = states[host.name]
        if state and (state["image"] != tag or state["labels"].get(LABEL) != "1"):
            if state["labels"].get(LABEL) != "1":
                raise PmopsError(f"a container named {host.container} exists and was not made by pmops; remove it")
            progress(f"{host.name}: built from an older image, re-creating it")
            remove_containers([host.container])
            state = None
        if state and state["lost"]:
            progress(f"{host.name}: podman says running but its processes are gone "
                     "(a restored or rebooted machine); re-creating it")
            remove_containers([host.container])
            state = None
        if state is None:
            create.append(host)
            recreated = True
            touched.add(host.name)
        elif not state["running"]:
            progress(f"{host.name}: was stopped, starting it")
            podman("start", host.container)
            touched.add(host.name)

    def made(host: Host) -> None:
        progress(f"{host.name}: creating ({host.ip})")
        create_container(host, topo, tag)

    # A few at a time: podman serialises much of `run` on its own locks anyway.
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(made, create))
    if recreated:
        clear_fact_cache(topo)

    def known_host(host: Host) -> str:
        return provision(host, topo) if reprovision_all or host.name in touched else host_key_line(host)

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(topo.hosts), 12)) as pool:
        lines = list(pool.map(known_host, topo.hosts))
    tmp = KNOWN_HOSTS.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(KNOWN_HOSTS)
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(topo.hosts), 12)) as pool:
        list(pool.map(lambda h: wait_for_ssh(h, topo), topo.hosts))
    progress(f"lab up: {len(topo.hosts)} hosts reachable over SSH as {topo.user} "
             f"in {time.monotonic() - started:.0f} s")
    return 0


def remove_containers(names: list[str], attempts: int = 3) -> None:
    """Remove containers and make sure they are gone.

    podman 4.3 sometimes leaves a container stopped but not removed when it removes several
    at once (seen after a restarted host: "aardvark pid not found" while tearing down its
    network), so whatever is still there is removed again one by one.
    """
    left = list(names)
    err = ""
    for _ in range(attempts):
        if not left:
            return
        proc = podman("rm", "--force", "--time", "5", *left, check=False)
        err = (proc.stderr or b"").decode(errors="replace").strip()
        existing = set(_out(podman("ps", "--all", "--format", "{{.Names}}")).split())
        left = [n for n in left if n in existing]
    if left:
        raise PmopsError(f"could not remove {' '.join(left)}: {err}")


def down(topo: Topology | None = None, purge_image: bool = False) -> int:
    topo = topo or load_topology()
    ids = _out(podman("ps", "--all", "--filter", f"label={LABEL}=1", "--format", "{{.Names}}")).split()
    if ids:
        progress(f"removing {len(ids)} containers: {' '.join(sorted(ids))}")
        remove_containers(ids)
    nets = [n for n in _out(podman("network", "ls", "--filter", f"label={LABEL}=1",
                                   "--format", "{{.Name}}")).split() if n]
    for net in nets:
        progress(f"removing network {net}")
        podman("network", "rm", "--force", net)
    remove_secrets()
    remove_build_dir()
    clear_fact_cache(topo)
    remove_inventory()
    if purge_image:
        remove_images()
    progress("lab down")
    return 0


def ssh_port_open(ip: str) -> bool:
    try:
        with socket.create_connection((ip, 22), timeout=1):
            return True
    except OSError:
        return False


def status(topo: Topology | None = None) -> int:
    topo = topo or load_topology()
    tag = image_tag()
    print(f"image    {tag} ({'cached' if image_exists(tag) else 'not built'})")
    print(f"network  {topo.network} {topo.subnet}")
    print(f"{'host':<12} {'address':<14} {'container':<10} {'ssh':<5} groups")
    down_count = 0
    for host in topo.hosts:
        state = container_state(host.container)
        cstate = state["status"] if state else "absent"
        ssh = "open" if state and state["running"] and ssh_port_open(host.ip) else "-"
        if ssh != "open":
            down_count += 1
        groups = ",".join(g for g in host.groups if g != "pmops")
        print(f"{host.name:<12} {host.ip:<14} {cstate:<10} {ssh:<5} {groups}")
    return 0 if down_count == 0 else 3


def as_root(name: str, command: str, timeout: float = 120, topo: Topology | None = None) -> subprocess.CompletedProcess:
    """Run a shell command as root on a lab host (the automation account, then sudo); for drills."""
    topo = topo or load_topology()
    argv = ssh_base() + [f"{topo.user}@{topo.host(name).ip}", "sudo", "-n", "bash", "-c", shlex.quote(command)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def ssh(name: str, command: list[str], topo: Topology | None = None) -> int:
    topo = topo or load_topology()
    host = topo.host(name)
    if not KNOWN_HOSTS.exists():
        raise PmopsError("the lab is not up (no known_hosts); run `pmops lab up`")
    argv = ssh_base(batch=False) + [f"{topo.user}@{host.ip}", *command]
    sys.stdout.flush()
    os.execvp("ssh", argv)
    return 0  # not reached
