"""`pmops lab` against real podman: up twice, recovery from leftovers, port taken, down.

These tests change the lab (they stop, remove and re-create hosts), so `make test` runs
them before lab-check, which starts from a fresh lab anyway (and beside molecule, whose
containers, network and image are its own). Each leaves the lab up, as a fresh lab from the
cached image. The image build interrupted and rebuilt is tests/lab/test_lab_image.py: it
touches no lab host, so it runs beside the second converge (`make lab-image-tests`).
"""

from __future__ import annotations

import socket
import subprocess
import time

from pmops import lab

from labkit import ROOT, pmops, podman

HOSTS = ["web-01", "app-01", "app-02", "db-01", "backup-01", "monitor-01"]


def container_ids(*filters):
    """Name and id of every lab container (podman's State column reads "Up 3 seconds ago",
    which changes between two calls, so it is asked for with a filter instead)."""
    args = [a for f in filters for a in ("--filter", f)]
    out = podman("ps", "--all", "--filter", "label=pmops.lab=1", *args, "--format", "{{.Names}} {{.ID}}").stdout
    return sorted(line for line in out.splitlines() if line.strip())


def fresh_ssh(ip, user="pmops", *command):
    """pmops's own fresh login: host key checking on, no reused master connection."""
    return subprocess.run(lab.ssh_base() + [f"{user}@{ip}", *(command or ("sudo", "-n", "id", "-un"))],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_up_twice_is_harmless():
    first = pmops("lab", "up")
    assert first.returncode == 0, first.stderr
    before = container_ids()
    started = time.monotonic()
    second = pmops("lab", "up")
    elapsed = time.monotonic() - started
    assert second.returncode == 0, second.stderr
    assert "lab already up" in second.stderr
    assert container_ids() == before
    assert container_ids("status=running") == before
    assert elapsed < 30


def test_root_cannot_log_in_with_the_lab_key():
    assert fresh_ssh("10.89.30.11", "root", "true").returncode != 0


def test_stopped_hosts_are_started_again():
    podman("stop", "--time", "2", "pmops-db-01", "pmops-app-02")
    proc = pmops("lab", "up")
    assert proc.returncode == 0, proc.stderr
    assert "db-01: was stopped, starting it" in proc.stderr
    for ip in ("10.89.30.31", "10.89.30.22"):
        login = fresh_ssh(ip)
        assert login.returncode == 0 and login.stdout.strip() == "root", login.stderr


def test_status_reports_every_host():
    proc = pmops("lab", "status")
    assert proc.returncode == 0
    for name in HOSTS:
        assert name in proc.stdout
    assert proc.stdout.count(" running ") == len(HOSTS)


def test_recovers_from_an_interrupted_down_leaving_a_stale_network_and_keys():
    # An interrupted `down`: containers gone, network and keys left behind.
    lab.remove_containers([f"pmops-{h}" for h in HOSTS])
    assert container_ids() == []
    assert podman("network", "exists", "pmops-lab").returncode == 0
    proc = pmops("lab", "up")
    assert proc.returncode == 0, proc.stderr
    for name in HOSTS:
        assert f"{name}: creating" in proc.stderr
    assert fresh_ssh("10.89.30.11").returncode == 0


def test_port_taken_is_refused_before_anything_is_made():
    assert pmops("lab", "down").returncode == 0
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 18443))
        sock.listen()
        proc = pmops("lab", "up")
    assert proc.returncode == 2
    assert "port 18443 on 127.0.0.1 is taken by another program" in proc.stderr
    assert container_ids() == []
    assert podman("network", "exists", "pmops-lab").returncode != 0


def test_down_removes_every_container_network_and_key():
    assert pmops("lab", "up").returncode == 0
    proc = pmops("lab", "down")
    assert proc.returncode == 0, proc.stderr
    assert container_ids() == []
    assert podman("network", "exists", "pmops-lab").returncode != 0
    assert not (ROOT / ".lab" / "ssh").exists()
    assert not (ROOT / ".lab" / "pki").exists(), "the lab CA and host keys must go with the lab"
    # The cached image stays, so the next `up` is quick.
    tag = pmops("lab", "image").stdout.strip()
    assert podman("image", "exists", tag).returncode == 0


def test_lab_comes_back_up_from_the_cached_image():
    # Last on purpose: it leaves a lab made from nothing, which `make test` hands to lab-check
    # (LAB_FRESH, scripts/test_tiers.py) instead of a second down and up.
    started = time.monotonic()
    proc = pmops("lab", "up")
    assert proc.returncode == 0, proc.stderr
    assert "is cached (recipe unchanged)" in proc.stderr
    assert time.monotonic() - started < 180
    for ip in ("10.89.30.11", "10.89.30.51"):
        assert fresh_ssh(ip).returncode == 0
