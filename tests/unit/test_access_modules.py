"""The access modules (pmops_access_sweep, pmops_sessions) and their helpers, on a temp tree."""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import module_utils.pmops_access as helpers  # noqa: E402

sys.modules["ansible.module_utils.pmops_access"] = helpers
from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH2eKU94lQ5RwwPgSlALkat1aaaaaaaaaaaaaaaaaaaa li@laptop"
ED2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB li@desk"
STRAY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDi1UsRvemvp0aoermkHKeAxxxxxxxxxx mallory@evil"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "library" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_module(name: str, args: dict, check: bool = False, capsys=None) -> dict:
    args = dict(args, _ansible_check_mode=check, _ansible_diff=True)
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    basic._ANSIBLE_PROFILE = "legacy"
    with pytest.raises(SystemExit):
        load(name).main()
    return json.loads(capsys.readouterr().out)


def test_key_helpers_keep_wanted_keys_whatever_their_options_or_comments():
    text = f"# managed\n{ED}\nfrom=\"10.0.0.1\" {STRAY}\n{ED2.replace('li@desk', 'renamed')}\n"
    new, removed = helpers.sweep_keys(text, [ED, ED2])
    assert removed == [f'from="10.0.0.1" {STRAY}']
    assert "# managed" in new and ED in new and "renamed" in new
    assert helpers.describe_key(removed[0]) == "ssh-rsa ...eAxxxxxxxxxx mallory@evil"


def test_sudoers_helpers():
    assert helpers.unmanaged_sudoers(["README", "90-stray", "x.dpkg-old", "b~", "60-pmops-duty-dba"],
                                     ["README", "60-pmops-duty-dba"]) == ["90-stray"]
    assert helpers.mentions_user("pmops ALL=(ALL) NOPASSWD: ALL\n", "pmops")
    assert helpers.mentions_user("alice, pmops ALL=(ALL) ALL", "pmops")
    assert not helpers.mentions_user("pmopsx ALL=(ALL) ALL", "pmops")


def test_processes_of_reads_proc():
    assert os.getpid() in helpers.processes_of(os.getuid())


@pytest.fixture
def tree(tmp_path):
    sudoers = tmp_path / "sudoers.d"
    sudoers.mkdir()
    (sudoers / "README").write_text("# read me\n")
    (sudoers / "60-pmops-duty-dba").write_text("%duty-dba ALL=(postgres) NOPASSWD: /usr/bin/psql\n")
    (sudoers / "90-stray").write_text("mallory ALL=(ALL) NOPASSWD: ALL\n")
    (sudoers / "00-vendor-automation").write_text("pmops ALL=(ALL) NOPASSWD: ALL\n")
    return sudoers


def test_sweep_removes_unlisted_sudoers_but_never_one_naming_the_automation_account(tree, capsys):
    args = {"sudoers_dir": str(tree), "keep": ["README", "60-pmops-duty-dba"], "protect_user": "pmops"}
    result = run_module("pmops_access_sweep", args, check=True, capsys=capsys)
    assert result["changed"] and result["removed_sudoers"] == ["90-stray"]
    assert (tree / "90-stray").exists(), "check mode changes nothing"
    assert "mallory" in result["diff"]["before"]
    result = run_module("pmops_access_sweep", args, capsys=capsys)
    assert result["removed_sudoers"] == ["90-stray"] and result["protected"] == ["00-vendor-automation"]
    assert not (tree / "90-stray").exists() and (tree / "00-vendor-automation").exists()
    assert run_module("pmops_access_sweep", args, capsys=capsys)["changed"] is False


def test_sweep_removes_stray_keys_of_a_managed_account(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    keys = home / ".ssh" / "authorized_keys"
    keys.write_text(f"{ED}\n{STRAY}\n")
    keys.chmod(0o600)
    me = list(pwd.getpwuid(os.getuid()))
    me[5] = str(home)

    def getpwnam(name):
        if name != "li":
            raise KeyError(name)
        return pwd.struct_passwd(me)

    monkeypatch.setattr(pwd, "getpwnam", getpwnam)
    args = {"sudoers_dir": str(tmp_path / "none"), "keys": {"li": [ED], "ghost": [ED]}, "protect_user": "pmops"}
    result = run_module("pmops_access_sweep", args, capsys=capsys)
    assert result["removed_keys"] == {"li": ["ssh-rsa ...eAxxxxxxxxxx mallory@evil"]}
    assert keys.read_text() == f"{ED}\n" and oct(keys.stat().st_mode & 0o777) == "0o600"


def test_sessions_refuses_the_automation_account_and_root(capsys):
    result = run_module("pmops_sessions", {"users": ["root", "pmops"], "protect_user": "pmops"}, capsys=capsys)
    assert result["failed"] and "refusing to end the sessions of root, pmops" in result["msg"]


def test_sessions_refuses_an_account_that_shares_uid_0(capsys, monkeypatch):
    """A second uid 0 (toor) owns root's processes: ending its sessions would end the host's."""
    real = pwd.getpwnam

    def fake(name):
        if name == "toor":
            return pwd.struct_passwd(("toor", "x", 0, 0, "", "/nonexistent", "/bin/sh"))
        return real(name)
    monkeypatch.setattr(pwd, "getpwnam", fake)
    result = run_module("pmops_sessions", {"users": ["toor"], "protect_user": "pmops"}, capsys=capsys)
    assert result["failed"] and "refusing to end the sessions of toor" in result["msg"]


def test_sessions_ends_the_processes_of_an_account(capsys, monkeypatch):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        tester = pwd.struct_passwd(("tester", "x", 4242, 4242, "", "/home/tester", "/bin/sh"))

        def getpwnam(name):
            if name != "tester":
                raise KeyError(name)
            return tester
        monkeypatch.setattr(pwd, "getpwnam", getpwnam)
        monkeypatch.setattr(helpers, "processes_of", lambda uid: [sleeper.pid] if sleeper.poll() is None else [])
        result = run_module("pmops_sessions", {"users": ["tester"], "protect_user": "pmops"}, check=True, capsys=capsys)
        assert result["changed"] and result["ended"] == {"tester": [sleeper.pid]} and sleeper.poll() is None
        result = run_module("pmops_sessions", {"users": ["tester"], "protect_user": "pmops", "grace": 2}, capsys=capsys)
        assert result["ended"] == {"tester": [sleeper.pid]}
        assert sleeper.wait(timeout=5) is not None
    finally:
        sleeper.kill()
