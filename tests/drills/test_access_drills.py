"""Access drills on a converged lab host: hand-made access is swept away and named, and a
person removed from the matrix loses everything, including the session they have open."""

from __future__ import annotations

import shutil
import subprocess
import time

import yaml

import drillkit
from drillkit import ROOT

HOST = "app-01"


def as_root(command: str) -> subprocess.CompletedProcess:
    return drillkit.as_root(HOST, command, timeout=60)


def as_person(login: str, key: str, *command: str) -> subprocess.CompletedProcess:
    return drillkit.ssh(HOST, *command, user=login, key=key, timeout=60)


def converge(inventory: str = "inventory/lab") -> subprocess.CompletedProcess:
    return drillkit.converge(limit=HOST, tags="access", inventory=inventory, timeout=600)[0]


def test_a_hand_made_key_and_a_stray_sudoers_file_are_removed_and_named(tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mallory@by-hand", "-f",
                    str(tmp_path / "stray")], check=True)
    stray = (tmp_path / "stray.pub").read_text().strip()
    made = as_root(f"echo '{stray}' >> /home/li.wei/.ssh/authorized_keys && "
                   "echo 'zhang.min ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/99-stray && chmod 0440 /etc/sudoers.d/99-stray")
    assert made.returncode == 0, made.stderr
    proc = converge()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "99-stray" in proc.stdout and "mallory@by-hand" in proc.stdout, proc.stdout[-3000:]
    assert as_root("test -e /etc/sudoers.d/99-stray").returncode == 1
    assert "mallory@by-hand" not in as_root("cat /home/li.wei/.ssh/authorized_keys").stdout
    assert as_person("li.wei", "li.wei-laptop", "id", "-un").stdout.strip() == "li.wei"


def test_a_person_removed_from_the_matrix_loses_access_and_their_session_ends(tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory" / "lab", inventory)
    access_file = inventory / "group_vars" / "all" / "access.yml"
    matrix = yaml.safe_load(access_file.read_text())
    matrix["access_people"] = [p for p in matrix["access_people"] if p["login"] != "zhang.min"]
    access_file.write_text(yaml.safe_dump(matrix, sort_keys=False))
    assert as_person("zhang.min", "zhang.min", "sudo", "-n", "-l", "/usr/bin/systemctl", "restart",
                     "marketing-portal").returncode == 0
    argv, env = drillkit.person_ssh(HOST, "zhang.min", "zhang.min")
    session = subprocess.Popen(argv + ["sleep", "300"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        time.sleep(3)
        assert session.poll() is None, "the session did not open"
        proc = converge(str(inventory))
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert session.wait(timeout=15) is not None, "the open session was not ended"
        refused = as_person("zhang.min", "zhang.min", "id")
        assert refused.returncode == 255
        assert as_root("test -e /home/zhang.min/.ssh/authorized_keys").returncode == 1
        assert as_root("test -d /home/zhang.min").returncode == 0, "the home stays for audit"
        groups = as_root("id -Gn zhang.min").stdout.split()
        assert "duty-app-deployer" not in groups and "pmops-people" not in groups
    finally:
        session.kill()
        back = converge()
        assert back.returncode == 0, back.stdout[-3000:]
    # usermod rewrote the account files' backups: a --tags access run leaves them as HARD-09 wants
    # (site.yml's last play)
    modes = as_root("stat -c '%n %a' /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow-").stdout.split("\n")
    assert [line.split()[1] for line in modes if line] == ["600"] * 4, modes
    assert as_person("zhang.min", "zhang.min", "id", "-un").stdout.strip() == "zhang.min"
    assert as_person("zhang.min", "zhang.min", "sudo", "-n", "-l", "/usr/bin/systemctl", "restart",
                     "marketing-portal").returncode == 0
