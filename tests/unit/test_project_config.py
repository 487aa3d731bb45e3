"""Project-wide promises that need no host: safe ansible.cfg, no root, specs agree with defaults."""

import configparser
from pathlib import Path

import pytest
import yaml

import role_docs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cfg():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "ansible.cfg")
    return parser


@pytest.mark.parametrize(
    ("section", "key", "expected"),
    [
        ("defaults", "host_key_checking", "True"),
        ("defaults", "roles_path", "roles"),
        ("defaults", "library", "library"),
        ("defaults", "module_utils", "module_utils"),
        ("defaults", "filter_plugins", "filter_plugins"),
        ("defaults", "fact_caching", "jsonfile"),
        ("defaults", "fact_caching_connection", ".cache/facts"),
        ("defaults", "deprecation_warnings", "True"),
        ("ssh_connection", "pipelining", "True"),
    ],
)
def test_ansible_cfg(cfg, section, key, expected):
    assert cfg.get(section, key) == expected


def test_ssh_reuses_connections(cfg):
    assert "ControlPersist" in cfg.get("ssh_connection", "ssh_args")


def inventory_files():
    return sorted((ROOT / "inventory").rglob("*.yml"))


@pytest.mark.parametrize("path", inventory_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_inventory_connects_as_root_or_skips_host_keys(path):
    text = path.read_text()
    data = yaml.safe_load(text) or {}
    assert data.get("ansible_user") != "root"
    assert "StrictHostKeyChecking=no" not in text
    assert "host_key_checking" not in text


@pytest.mark.parametrize("role", sorted(p.name for p in (ROOT / "roles").iterdir()))
def test_role_specs_agree_with_defaults(role):
    assert role_docs.check_defaults(ROOT / "roles" / role) == []


@pytest.mark.parametrize("role", sorted(p.name for p in (ROOT / "roles").iterdir()))
def test_role_readme_is_generated_from_specs(role):
    assert (ROOT / "roles" / role / "README.md").read_text() == role_docs.render(ROOT / "roles" / role)
