"""An execution node reached over SSH, as AWX reaches a remote one (there over receptor), for
`pmops --worker ssh:NAME` in the AWX drills and `make bench-awx`.

A lab host cannot be one: the tier firewall admits SSH to the other hosts from the control
node's address only. So the node is a container of the execution environment (which has
ansible-runner and sshd) running only sshd, on this host's network at 127.0.0.1 and a free
port, with a client key, a host key and a known_hosts of its own in a directory of the caller's.
The job then reaches the lab from the control node's address, like `--worker podman:IMAGE`;
what differs is the transport: the job stream goes through ssh.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pmops import PmopsError
from pmops.lab.base import podman

NAME = "exec-node"  # the Host of the ssh_config written: `--worker ssh:exec-node`
SSHD = ("mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -p {port} -o ListenAddress=127.0.0.1 "
        "-h /node/host_key -o AuthorizedKeysFile=/node/authorized_keys -o StrictModes=no "
        "-o PermitRootLogin=prohibit-password -o AuthenticationMethods=publickey -o PasswordAuthentication=no "
        "-o KbdInteractiveAuthentication=no")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_node_files(workdir: Path, port: int) -> Path:
    """Keys, known_hosts and the ssh_config that reaches the node; returns the ssh_config."""
    for key in ("client", "host_key"):
        if not (workdir / key).exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"pmops-exec-node-{key}",
                            "-f", str(workdir / key)], check=True, capture_output=True)
    (workdir / "authorized_keys").write_text((workdir / "client.pub").read_text())
    host_key = " ".join((workdir / "host_key.pub").read_text().split()[:2])
    (workdir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    config = workdir / "ssh_config"
    config.write_text(f"Host {NAME}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
                      f"  IdentityFile {workdir / 'client'}\n  IdentitiesOnly yes\n"
                      f"  UserKnownHostsFile {workdir / 'known_hosts'}\n  StrictHostKeyChecking yes\n")
    return config


@contextmanager
def ssh_execution_node(image: str, workdir: Path, timeout: float = 30) -> Iterator[tuple[str, Path]]:
    """Start the node; yield (the name `--worker ssh:` takes, the ssh_config file that
    $PMOPS_WORKER_SSH_CONFIG must name); remove the container at the end."""
    port = free_port()
    config = write_node_files(workdir, port)
    container = f"pmops-exec-node-{os.getpid()}-{port}"
    # the node sees its host key and the authorized key, never the client's private key; not
    # --rm, so that the logs of an sshd that died at once can still be read
    podman("run", "-d", "--name", container, "--network=host", "--user=0",
           f"--volume={workdir / 'host_key'}:/node/host_key:ro",
           f"--volume={workdir / 'authorized_keys'}:/node/authorized_keys:ro",
           image, "sh", "-c", SSHD.format(port=port))
    try:
        reach = ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-T", NAME,
                 "ansible-runner --version"]
        deadline = time.monotonic() + timeout
        while not _answers(reach):
            if time.monotonic() > deadline:
                logs = podman("logs", container, check=False)
                text = (logs.stdout + logs.stderr).decode(errors="replace")[-1500:]
                raise PmopsError(f"the execution node {container} did not answer ssh within {timeout:.0f} s: {text}")
            time.sleep(0.5)
        yield NAME, config
    finally:
        podman("rm", "-f", "-t", "0", container, check=False)


def _answers(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False
