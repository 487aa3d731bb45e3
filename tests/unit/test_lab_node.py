"""The SSH execution node's files (pmops/lab/node.py): keys, known_hosts, ssh_config."""

from __future__ import annotations

import subprocess

from pmops.lab import node


def test_the_node_files_reach_the_node_by_name_with_its_host_key_pinned(tmp_path):
    config = node.write_node_files(tmp_path, 40022)
    text = config.read_text()
    assert f"Host {node.NAME}\n" in text and "Port 40022" in text and "StrictHostKeyChecking yes" in text
    assert f"IdentityFile {tmp_path / 'client'}" in text and "IdentitiesOnly yes" in text
    host_key = (tmp_path / "host_key.pub").read_text().split()[:2]
    assert (tmp_path / "known_hosts").read_text() == f"[127.0.0.1]:40022 {' '.join(host_key)}\n"
    assert (tmp_path / "authorized_keys").read_text() == (tmp_path / "client.pub").read_text()
    shown = subprocess.run(["ssh", "-G", "-F", str(config), node.NAME], capture_output=True, text=True, check=True).stdout
    assert "hostname 127.0.0.1" in shown and "port 40022" in shown and "user root" in shown


def test_the_keys_are_kept_when_the_port_changes(tmp_path):
    node.write_node_files(tmp_path, 40022)
    key = (tmp_path / "client").read_text()
    node.write_node_files(tmp_path, 40023)
    assert (tmp_path / "client").read_text() == key
    assert (tmp_path / "known_hosts").read_text().startswith("[127.0.0.1]:40023 ")


def test_the_node_runs_only_sshd_on_the_loopback_without_passwords():
    assert node.SSHD.format(port=1).count("exec ") == 1
    assert "ListenAddress=127.0.0.1" in node.SSHD and "PasswordAuthentication=no" in node.SSHD
