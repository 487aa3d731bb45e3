"""pmops_app_release and its helpers, on a temp tree with artifacts built by build.py."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import module_utils.pmops_release as rel  # noqa: E402

sys.modules["ansible.module_utils.pmops_release"] = rel
from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402

spec = importlib.util.spec_from_file_location("build", ROOT / "apps" / "marketing-portal" / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def run(args: dict, check: bool = False, capsys=None) -> dict:
    args = dict(args, _ansible_check_mode=check, _ansible_diff=True)
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    basic._ANSIBLE_PROFILE = "legacy"
    spec = importlib.util.spec_from_file_location("m", ROOT / "library" / "pmops_app_release.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    return {v: dict(build.build(v, out), path=str(out / f"marketing-portal-{v}.tar.gz"))
            for v in ("1.0.0", "1.1.0", "1.2.0")}


def present(app, artifacts, version, capsys, check=False, sha=None):
    a = artifacts[version]
    return run({"path": str(app), "state": "present", "version": version, "src": a["path"],
                "sha256": sha or a["sha256"]}, check, capsys)


def test_build_is_reproducible_and_ships_only_its_own_migrations(artifacts, tmp_path):
    again = build.build("1.0.0", tmp_path)
    assert again["sha256"] == artifacts["1.0.0"]["sha256"]
    with tarfile.open(artifacts["1.0.0"]["path"]) as tar:
        names = tar.getnames()
        release = json.load(tar.extractfile("release.json"))
    assert "portal/migrations/001_accounts_and_readings.sql" in names
    assert not any(n.startswith("portal/migrations/002") for n in names)
    assert release == {"name": "marketing-portal", "version": "1.0.0", "schema": 1, "settings": {}}


def test_present_unpacks_once_and_check_mode_changes_nothing(tmp_path, artifacts, capsys):
    app = tmp_path / "app"
    dry = present(app, artifacts, "1.0.0", capsys, check=True)
    assert dry["changed"] and not app.exists()
    assert dry["diff"]["after"] == "  1.0.0\n"
    first = present(app, artifacts, "1.0.0", capsys)
    assert first["changed"] and (app / "releases/1.0.0/release.json").is_file()
    assert (app / "releases/1.0.0/portal/web.py").stat().st_mode & 0o777 == 0o644
    assert present(app, artifacts, "1.0.0", capsys)["changed"] is False


def test_a_wrong_sha256_is_refused_before_anything_changes(tmp_path, artifacts, capsys):
    app = tmp_path / "app"
    out = present(app, artifacts, "1.1.0", capsys, sha="0" * 64)
    assert out["failed"] and "has sha256" in out["msg"] and "nothing was changed" in out["msg"]
    assert not app.exists()


def test_a_version_is_immutable(tmp_path, artifacts, capsys):
    app = tmp_path / "app"
    present(app, artifacts, "1.0.0", capsys)
    other = artifacts["1.1.0"]
    out = run({"path": str(app), "state": "present", "version": "1.0.0", "src": other["path"],
               "sha256": other["sha256"]}, capsys=capsys)
    assert out["failed"] and "immutable" in out["msg"]


def test_activate_previous_follows_activation_order_not_file_times(tmp_path, artifacts, capsys):
    app = tmp_path / "app"
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        present(app, artifacts, v, capsys)
    # make the oldest release look newest on disk: must not matter
    os.utime(app / "releases/1.0.0", (2_000_000_000, 2_000_000_000))
    assert run({"path": str(app), "state": "active", "version": "1.1.0"}, capsys=capsys)["current"] == "1.1.0"
    out = run({"path": str(app), "state": "active", "version": "1.2.0"}, capsys=capsys)
    assert out["switched_from"] == "1.1.0" and out["previous"] == "1.1.0"
    assert os.readlink(app / "current") == "releases/1.2.0"
    dry = run({"path": str(app), "state": "active", "version": "previous"}, check=True, capsys=capsys)
    assert dry["changed"] and os.readlink(app / "current") == "releases/1.2.0"
    assert dry["diff"]["after"] == "  1.0.0\n* 1.1.0\n  1.2.0\n"
    back = run({"path": str(app), "state": "active", "version": "previous"}, capsys=capsys)
    assert back["current"] == "1.1.0" and back["previous"] == "1.2.0"
    again = run({"path": str(app), "state": "active", "version": "1.1.0"}, capsys=capsys)
    assert again["changed"] is False


def test_no_previous_release_is_a_clear_error(tmp_path, artifacts, capsys):
    app = tmp_path / "app"
    present(app, artifacts, "1.0.0", capsys)
    run({"path": str(app), "state": "active", "version": "1.0.0"}, capsys=capsys)
    out = run({"path": str(app), "state": "active", "version": "previous"}, capsys=capsys)
    assert out["failed"] and "no previous release" in out["msg"]
    out = run({"path": str(app), "state": "active", "version": "9.9.9"}, capsys=capsys)
    assert out["failed"] and "9.9.9 is not installed" in out["msg"]


def test_prune_keeps_current_and_previous_and_removes_the_earliest_installed(tmp_path, artifacts, capsys):
    app = tmp_path / "app"
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        present(app, artifacts, v, capsys)
    run({"path": str(app), "state": "active", "version": "1.0.0"}, capsys=capsys)
    run({"path": str(app), "state": "active", "version": "1.2.0"}, capsys=capsys)
    dry = run({"path": str(app), "state": "pruned", "keep": 2}, check=True, capsys=capsys)
    assert dry["pruned"] == ["1.1.0"] and (app / "releases/1.1.0").exists()
    out = run({"path": str(app), "state": "pruned", "keep": 2}, capsys=capsys)
    assert out["pruned"] == ["1.1.0"] and not (app / "releases/1.1.0").exists()
    assert [r["version"] for r in out["releases"]] == ["1.0.0", "1.2.0"]
    assert run({"path": str(app), "state": "pruned", "keep": 2}, capsys=capsys)["changed"] is False
    out = run({"path": str(app), "state": "pruned", "keep": 1}, capsys=capsys)
    assert out["failed"] and "at least 2" in out["msg"]


@pytest.mark.parametrize("name,kind", [("/etc/evil", tarfile.REGTYPE), ("../evil", tarfile.REGTYPE),
                                       ("portal/link", tarfile.SYMTYPE)])
def test_unsafe_artifact_entries_are_refused(tmp_path, name, kind):
    artifact = tmp_path / "bad.tar.gz"
    with tarfile.open(artifact, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = "/etc/shadow" if kind == tarfile.SYMTYPE else ""
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(rel.ReleaseError):
        rel.unpack(str(tmp_path / "app"), "6.6.6", str(artifact), rel.sha256_of(artifact))
    assert not (tmp_path / "app" / "releases" / "6.6.6").exists()
    assert not list((tmp_path / "app" / "releases").iterdir())


@pytest.mark.parametrize("version", ["../x", "", "a/b", "x" * 70, "-rf"])
def test_bad_version_names_are_refused(version):
    with pytest.raises(rel.ReleaseError):
        rel.check_version(version)


def test_a_failed_release_is_never_previous_and_is_pruned_first(tmp_path, artifacts, capsys):
    app = tmp_path / "app"
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        present(app, artifacts, v, capsys)
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        run({"path": str(app), "state": "active", "version": v}, capsys=capsys)
    # the deploy's automatic rollback: mark 1.2.0 failed, go back to 1.1.0
    dry = run({"path": str(app), "state": "failed", "version": "1.2.0"}, check=True, capsys=capsys)
    assert dry["changed"] and not any(r["failed"] for r in dry["releases"])
    assert run({"path": str(app), "state": "failed", "version": "1.2.0"}, capsys=capsys)["changed"]
    out = run({"path": str(app), "state": "active", "version": "1.1.0"}, capsys=capsys)
    assert out["previous"] == "1.0.0", "the failed 1.2.0 must not be offered as previous"
    assert run({"path": str(app), "state": "pruned", "keep": 2}, capsys=capsys)["pruned"] == ["1.2.0"]
    assert run({"path": str(app), "state": "failed", "version": "1.2.0"}, capsys=capsys)["failed"]


def test_activating_a_failed_release_again_clears_the_mark(tmp_path, artifacts, capsys):
    app = tmp_path / "app"
    for v in ("1.0.0", "1.1.0"):
        present(app, artifacts, v, capsys)
        run({"path": str(app), "state": "active", "version": v}, capsys=capsys)
    run({"path": str(app), "state": "failed", "version": "1.0.0"}, capsys=capsys)
    assert run({"path": str(app), "state": "list"}, capsys=capsys)["previous"] is None
    run({"path": str(app), "state": "active", "version": "1.0.0"}, capsys=capsys)
    assert run({"path": str(app), "state": "list"}, capsys=capsys)["previous"] == "1.1.0"
