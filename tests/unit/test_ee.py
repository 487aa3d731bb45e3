"""pmops.ee without podman: the execution environment's name follows what goes into it, and its
definition keeps to what builds here (ansible-builder's schema 3, the project's pins, no registry)."""

from __future__ import annotations

import re

import yaml

from pmops import ee
from pmops.paths import ROOT


def test_the_image_is_named_after_its_definition_the_lock_and_the_base(tmp_path, monkeypatch):
    (tmp_path / "ee").mkdir()
    (tmp_path / "ee" / "execution-environment.yml").write_text("version: 3\n")
    (tmp_path / "requirements.txt").write_text("ansible==12.3.0\n")
    monkeypatch.setattr(ee, "EE_DIR", tmp_path / "ee")
    monkeypatch.setattr(ee, "REQUIREMENTS", tmp_path / "requirements.txt")
    first = ee.image_tag("localhost/base:1")
    assert re.fullmatch(re.escape(ee.IMAGE_REPO) + r":[0-9a-f]{12}", first)
    assert ee.image_tag("localhost/base:1") == first
    assert ee.image_tag("localhost/base:2") != first
    (tmp_path / "requirements.txt").write_text("ansible==12.4.0\n")
    second = ee.image_tag("localhost/base:1")
    assert second != first
    (tmp_path / "ee" / "bindep.txt").write_text("dumb-init [platform:dpkg]\n")
    assert ee.image_tag("localhost/base:1") != second


def test_the_definition_pins_what_the_virtualenv_runs_and_needs_no_registry():
    definition = yaml.safe_load((ROOT / "ee" / "execution-environment.yml").read_text())
    lock = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert definition["version"] == 3
    assert definition["images"]["base_image"]["name"].startswith("localhost/")
    deps = definition["dependencies"]
    assert deps["ansible_core"]["package_pip"] == f"ansible-core=={lock['ansible-core']}"
    assert deps["ansible_runner"]["package_pip"] == f"ansible-runner=={lock['ansible-runner']}"
    assert (ROOT / "ee" / deps["python"]).resolve() == ROOT / "requirements.txt"
    assert "galaxy" not in deps  # the collections are the ansible package's, as in the virtualenv
    assert definition["options"]["package_manager_path"] == "/usr/local/sbin/pkgmgr-apt"
    for build_file in definition["additional_build_files"]:
        assert not build_file["src"].startswith("../") or build_file["src"] == "../.cache/wheelhouse"
    pip_conf = (ROOT / "ee" / "pip.conf").read_text()
    assert "no-index = true" in pip_conf and "find-links = /opt/wheelhouse" in pip_conf


def test_ansible_builder_accepts_the_definition_and_writes_no_step_that_needs_dnf_or_ensurepip(tmp_path):
    """`ansible-builder create` validates against its schema and writes the Containerfile `make ee`
    builds; here with an empty wheelhouse (the real one is 74 MB)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    work = tmp_path / "ee"
    shutil.copytree(ROOT / "ee", work)
    (tmp_path / ".cache" / "wheelhouse").mkdir(parents=True)
    (tmp_path / "requirements.txt").write_text((ROOT / "requirements.txt").read_text())
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-builder"), "create", "--file",
                           str(work / "execution-environment.yml"), "--context", str(tmp_path / "context")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    assert 'ARG PKGMGR="/usr/local/sbin/pkgmgr-apt"' in containerfile
    assert "pip_install" not in containerfile  # Debian disables ensurepip: its python3-pip instead
    assert "COPY _build/wheelhouse /opt/wheelhouse" in containerfile
    assert "RUN rm -rf /opt/wheelhouse /etc/pip.conf" in containerfile
    assert "USER 0" in containerfile
