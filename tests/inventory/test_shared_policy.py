"""Staging and production share their policy (inventory/policy, linked from both) instead of
copying it, and a bad value there is refused for both environments before any host is touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("production", "staging")
# What the environments read from ansible-vault, as stand-ins (validation only).
VAULT = {"vault_portal_db_password": "x" * 24, "vault_backup_password": "y" * 24, "vault_root_password": "r" * 24,
         "vault_pmops_tls_ca": "ca", "vault_pmops_tls_cert": "cert", "vault_pmops_tls_key": "key",
         "vault_prometheus_web_password": "z" * 24, "vault_prometheus_smtp_password": "s" * 16}


def files(env: str) -> dict[str, Path]:
    base = ROOT / "inventory" / env
    return {str(p.relative_to(base)): p for p in base.rglob("*.yml")}


def test_no_policy_file_is_a_copy():
    prod, stg = files("production"), files("staging")
    for name in sorted(set(prod) & set(stg)):
        if prod[name].is_symlink() or stg[name].is_symlink():
            assert prod[name].resolve() == stg[name].resolve() == ROOT / "inventory" / "policy" / name, name
        else:
            assert prod[name].read_bytes() != stg[name].read_bytes(), f"{name} is the same in both: move it to inventory/policy"
    shared = {str(p.relative_to(ROOT / "inventory" / "policy")) for p in (ROOT / "inventory" / "policy").rglob("*.yml")}
    assert shared and all(prod[name].is_symlink() and stg[name].is_symlink() for name in shared)


@pytest.fixture
def tree(tmp_path):
    shutil.copytree(ROOT / "inventory", tmp_path / "inventory", symlinks=True)
    (tmp_path / "vault.yml").write_text(yaml.safe_dump(VAULT))
    return tmp_path


def validate(tree: Path, env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tree / "inventory" / env),
                           "playbooks/validate.yml", "-e", f"@{tree / 'vault.yml'}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))


def test_a_bad_value_in_the_shared_policy_is_refused_for_both_environments(tree):
    for env in ENVIRONMENTS:
        proc = validate(tree, env)
        assert proc.returncode == 0, f"{env}: {proc.stdout[-2000:]}"
    policy = tree / "inventory" / "policy" / "group_vars" / "all" / "ssh.yml"
    data = yaml.safe_load(policy.read_text())
    data["ssh_max_auth_tries"] = "many"
    policy.write_text(yaml.safe_dump(data))
    for env in ENVIRONMENTS:
        proc = validate(tree, env)
        out = " ".join(proc.stdout.split())
        assert proc.returncode != 0 and "The inventory is refused; nothing was changed" in out, f"{env}: {out[-2000:]}"
        assert "ssh_max_auth_tries" in out, f"{env}: {out[-2000:]}"
