"""The lab: six podman containers running systemd and sshd, built from a Debian 12
image made with debootstrap (no image registry is reachable).

The topology is read from ``inventory/lab`` (hosts, addresses, network), so the
inventory is the one place it is written down. Everything the lab makes carries the
label ``pmops.lab`` so that ``down`` removes exactly what ``up`` made.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pmops import PmopsError, progress
from pmops.paths import CACHE, ROOT

LABEL = "pmops.lab"
# Overridable so tests can build a throw-away image beside the cached one.
IMAGE_REPO = os.environ.get("PMOPS_LAB_IMAGE_REPO", "localhost/pmops-lab-base")
CONTAINER_PREFIX = "pmops-"
AUTOMATION_USER_DEFAULT = "pmops"

STATE_DIR = ROOT / ".lab"
SSH_DIR = STATE_DIR / "ssh"
KEY_FILE = SSH_DIR / "id_ed25519"
KNOWN_HOSTS = SSH_DIR / "known_hosts"
PKI_DIR = STATE_DIR / "pki"
PEOPLE_DIR = STATE_DIR / "people"
SECRETS_DIR = STATE_DIR / "secrets"
# Passwords the lab's services need, one random token per file (production: ansible-vault).
LAB_PASSWORDS = ("portal_db_password", "backup_password")
ACCESS_FILE = ROOT / "inventory" / "lab" / "group_vars" / "all" / "access.yml"
BUILD_DIR = STATE_DIR / "build"
FACT_CACHE = CACHE / "facts"
RECIPE = ROOT / "lab" / "image" / "recipe.conf"
SETUP_SCRIPT = ROOT / "lab" / "image" / "setup.sh"
CONTAINERS_CONF = ROOT / "lab" / "containers.conf"
INVENTORY = ROOT / "inventory" / "lab"


# --------------------------------------------------------------------------- topology

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


def _load_yaml(path: Path) -> dict:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise PmopsError(f"{path.relative_to(ROOT)} is missing") from None
    except yaml.YAMLError as exc:
        raise PmopsError(f"{path.relative_to(ROOT)} is not valid YAML: {exc}") from None


def load_topology(inventory: Path = INVENTORY) -> Topology:
    """Read hosts, addresses and network of the lab from its inventory."""
    found: dict = {}
    for group, node in _load_yaml(inventory / "hosts.yml").items():
        _walk_groups(node, group, [], found)
    allvars: dict = {}
    for path in sorted((inventory / "group_vars" / "all").glob("*.yml")):
        allvars.update(_load_yaml(path))
    for key in ("pmops_lab_network", "pmops_lab_subnet", "pmops_lab_gateway"):
        if key not in allvars:
            raise PmopsError(f"{key} is not set in {inventory.relative_to(ROOT)}/group_vars/all")
    subnet = ipaddress.ip_network(allvars["pmops_lab_subnet"])
    publish = allvars.get("pmops_lab_publish") or {}
    hosts = []
    for name, entry in found.items():
        ip = entry["vars"].get("ansible_host")
        if not ip:
            raise PmopsError(f"lab host {name} has no ansible_host in inventory/lab/hosts.yml")
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


# --------------------------------------------------------------------------- podman

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


# --------------------------------------------------------------------------- image

def apt_mirror() -> str:
    """The Debian mirror this machine uses (its own apt sources), so the lab follows it."""
    candidates = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("URIs:") and "debian-security" not in line:
                uri = line.split(None, 1)[1].split()[0]
                if uri.rstrip("/").endswith("/debian"):
                    return uri.rstrip("/")
            if line.startswith("deb ") and "debian-security" not in line:
                for word in line.split():
                    if word.startswith("http") and word.rstrip("/").endswith("/debian"):
                        return word.rstrip("/")
    return "http://deb.debian.org/debian"


def read_recipe() -> dict:
    recipe = {}
    for line in RECIPE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            recipe[key.strip()] = value.strip()
    for key in ("suite", "variant", "include"):
        if key not in recipe:
            raise PmopsError(f"{RECIPE.relative_to(ROOT)} lacks '{key}='")
    return recipe


def image_tag() -> str:
    """The image is named after a digest of its recipe (packages, set-up script, mirror)."""
    digest = hashlib.sha256()
    digest.update(RECIPE.read_bytes())
    digest.update(SETUP_SCRIPT.read_bytes())
    digest.update(apt_mirror().encode())
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


def image_exists(tag: str) -> bool:
    return podman("image", "exists", tag, check=False).returncode == 0


def remove_build_dir() -> None:
    """Remove a build tree, first unmounting what an interrupted debootstrap left mounted."""
    if not BUILD_DIR.exists():
        return
    prefix = str(BUILD_DIR.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount], check=False)
    shutil.rmtree(BUILD_DIR)


def build_image(tag: str) -> None:
    if shutil.which("debootstrap") is None:
        raise PmopsError("debootstrap is not installed; run `make setup`")
    recipe = read_recipe()
    mirror = apt_mirror()
    # Leftovers of an interrupted build are never reused: start clean.
    if BUILD_DIR.exists():
        progress("removing the leftovers of an interrupted image build")
    remove_build_dir()
    rootfs = BUILD_DIR / "rootfs"
    rootfs.mkdir(parents=True)
    progress(f"building the lab image {tag} with debootstrap from {mirror}, then its updates (two or three minutes)")
    cmd = ["debootstrap", f"--variant={recipe['variant']}", f"--include={recipe['include']}",
           recipe["suite"], str(rootfs), mirror]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace").strip().splitlines()[-15:]
        raise PmopsError("debootstrap failed:\n  " + "\n  ".join(tail))
    shutil.copy(SETUP_SCRIPT, rootfs / "tmp" / "pmops-setup.sh")
    proc = subprocess.run(["chroot", str(rootfs), "/bin/sh", "/tmp/pmops-setup.sh", mirror, recipe["suite"]],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise PmopsError("image set-up in chroot failed: " + proc.stdout.decode(errors="replace"))
    (rootfs / "tmp" / "pmops-setup.sh").unlink()
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    imp = subprocess.run(
        ["podman", "import", "--change", "CMD=/sbin/init", "--change", "STOPSIGNAL=SIGRTMIN+3",
         "-", tag],
        stdin=tar.stdout, env=podman_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tar.wait()
    if imp.returncode != 0 or tar.returncode != 0:
        raise PmopsError("podman import failed: " + imp.stderr.decode(errors="replace"))
    podman("tag", tag, f"{IMAGE_REPO}:latest")
    remove_build_dir()


def ensure_image() -> tuple[str, bool]:
    tag = image_tag()
    if image_exists(tag):
        # Keep the :latest alias (molecule uses it) on the current recipe.
        podman("tag", tag, f"{IMAGE_REPO}:latest")
        return tag, False
    build_image(tag)
    return tag, True


# --------------------------------------------------------------------------- network

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


# --------------------------------------------------------------------------- containers

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


def create_container(host: Host, topo: Topology, tag: str) -> None:
    check_ports([host])
    args = [
        "run", "--detach", "--name", host.container, "--hostname", host.name,
        "--label", f"{LABEL}=1", "--label", f"pmops.lab.host={host.name}",
        "--network", topo.network, "--ip", host.ip,
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


def ensure_keypair() -> None:
    SSH_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(SSH_DIR, 0o700)
    if not KEY_FILE.exists() or not KEY_FILE.with_suffix(".pub").exists():
        for path in (KEY_FILE, KEY_FILE.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pmops-lab-control",
                        "-f", str(KEY_FILE)], check=True)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ensure_pki(topo: Topology) -> None:
    """The lab's own small CA and one TLS certificate per host (made once, kept until down)."""
    PKI_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(PKI_DIR, 0o700)
    ca_key, ca_crt = PKI_DIR / "ca.key", PKI_DIR / "ca.crt"
    if not ca_key.exists() or not ca_crt.exists():
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "825",
                 "-subj", "/O=Power Marketing Ops lab/CN=pmops lab CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        for old in PKI_DIR.glob("*.crt"):
            if old != ca_crt:
                old.unlink()
    for host in topo.hosts:
        key, crt = PKI_DIR / f"{host.name}.key", PKI_DIR / f"{host.name}.crt"
        if key.exists() and crt.exists():
            continue
        csr = PKI_DIR / f"{host.name}.csr"
        ext = PKI_DIR / f"{host.name}.ext"
        ext.write_text(f"subjectAltName=DNS:{host.name},IP:{host.ip}\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(csr), "-subj", f"/O=Power Marketing Ops lab/CN={host.name}")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-out", str(crt), "-days", "397", "-extfile", str(ext))
        csr.unlink()
        ext.unlink()
    for path in PKI_DIR.iterdir():
        os.chmod(path, 0o600)


def people_key_names(access_file: Path = ACCESS_FILE) -> list[str]:
    """The sample people's key files the lab's access matrix reads (.lab/people/<name>.pub)."""
    if not access_file.exists():
        return []
    return sorted(set(re.findall(r"\.lab/people/([A-Za-z0-9_.-]+)\.pub", access_file.read_text())))


def ensure_people_keys(access_file: Path = ACCESS_FILE) -> None:
    """One key pair per key file named in the lab's access matrix (made once, kept until down)."""
    names = people_key_names(access_file)
    if not names:
        return
    PEOPLE_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(PEOPLE_DIR, 0o700)
    for name in names:
        key = PEOPLE_DIR / name
        if key.exists() and key.with_suffix(key.suffix + ".pub").exists():
            continue
        for path in (key, PEOPLE_DIR / f"{name}.pub"):
            path.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@pmops-lab", "-f", str(key)],
                       check=True)


def ensure_secrets(topo: Topology) -> None:
    """Everything secret the lab needs, made here and never committed: the automation
    account's key, the CA and host certificates, the sample people's keys."""
    ensure_keypair()
    ensure_pki(topo)
    ensure_people_keys()
    ensure_passwords()


def ensure_passwords() -> None:
    """A random password per name in LAB_PASSWORDS, kept once made (a converged lab uses it)."""
    SECRETS_DIR.mkdir(parents=True, exist_ok=True)
    SECRETS_DIR.chmod(0o700)
    for name in LAB_PASSWORDS:
        path = SECRETS_DIR / name
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(24) + "\n")
            tmp.chmod(0o600)
            tmp.replace(path)


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


# --------------------------------------------------------------------------- commands

def up(topo: Topology | None = None) -> int:
    topo = topo or load_topology()
    started = time.monotonic()
    tag, built = ensure_image()
    if not built:
        progress(f"image {tag} is cached (recipe unchanged)")
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
            progress(f"{host.name}: creating ({host.ip})")
            create_container(host, topo, tag)
            recreated = True
            touched.add(host.name)
        elif not state["running"]:
            progress(f"{host.name}: was stopped, starting it")
            podman("start", host.container)
            touched.add(host.name)
    if recreated:
        clear_fact_cache(topo)

    def known_host(host: Host) -> str:
        return provision(host, topo) if reprovision_all or host.name in touched else host_key_line(host)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(topo.hosts)) as pool:
        lines = list(pool.map(known_host, topo.hosts))
    tmp = KNOWN_HOSTS.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(KNOWN_HOSTS)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(topo.hosts)) as pool:
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
    if SSH_DIR.exists():
        progress(f"removing the lab's SSH keys and known_hosts ({SSH_DIR.relative_to(ROOT)})")
        shutil.rmtree(SSH_DIR)
    for secret_dir, what in ((PKI_DIR, "CA and certificates"), (PEOPLE_DIR, "sample people's keys"),
                             (SECRETS_DIR, "service passwords")):
        if secret_dir.exists():
            progress(f"removing the lab's {what} ({secret_dir.relative_to(ROOT)})")
            shutil.rmtree(secret_dir)
    remove_build_dir()
    clear_fact_cache(topo)
    if purge_image:
        for image in _out(podman("images", "--format", "{{.Repository}}:{{.Tag}}",
                                 "--filter", f"reference={IMAGE_REPO}")).split():
            podman("rmi", "--force", image, check=False)
        progress("removed the cached lab image")
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
