"""Audit-only runs (`pmops audit`, which is `pmops comply --check-mode --no-testinfra`) on a
converged lab host: they report exactly the drifted controls, with the check-mode diff and
the state in force, honour a waiver without remediating it, and change nothing (/etc
fingerprinted). Waived and expired exceptions in the report: tests/drills/test_comply.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

import drillkit
from drillkit import ROOT, pmops

HOST = "web-01"
ETC_SUM = "find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum"


def fresh_ssh(command: str) -> subprocess.CompletedProcess:
    return drillkit.as_root(HOST, command, timeout=60)


def audit(tmp_path: Path, inventory: str = "inventory/lab", command: tuple[str, ...] = ("audit",)) -> tuple[int, dict, str]:
    out = tmp_path / "audit.json"
    out.unlink(missing_ok=True)
    proc, _, text = pmops(*command, "-i", inventory, "--limit", HOST, "--json", str(out),
                          "--reports", str(tmp_path / "reports"), timeout=600)
    report = json.loads(out.read_text())["hosts"][HOST] if out.exists() else {}
    return proc.returncode, report, text


def failing(report: dict) -> set[str]:
    return {cid for cid, r in report["controls"].items() if r["status"] in ("fail", "error", "unreachable")}


def converge() -> None:
    # The roles that own the three drifts below (sshd_config; /etc/shadow and sudoers.d): the
    # audit after it covers every control of the host, so a full converge would prove no more.
    proc, _, out = drillkit.converge(limit=HOST, tags="ssh,hardening")
    assert proc.returncode == 0, out[-3000:]


def test_three_deviations_are_reported_exactly_and_nothing_changes(tmp_path):
    # exactly these three fail: nothing else was failing before them
    drift = fresh_ssh("sed -i 's/^PermitRootLogin no/PermitRootLogin yes/' /etc/ssh/sshd_config"
                      " && chmod 0644 /etc/shadow && rm /etc/sudoers.d/10-pmops-defaults")
    assert drift.returncode == 0, drift.stderr
    try:
        before = fresh_ssh(ETC_SUM).stdout
        code, report, out = audit(tmp_path)
        assert code == 1, out
        assert failing(report) == {"SSH-01", "HARD-05", "HARD-09"}, out
        assert report["changed_nothing"], out
        assert fresh_ssh(ETC_SUM).stdout == before
        assert "permitrootlogin: effective yes, wanted no" in " ".join(report["controls"]["SSH-01"]["evidence"])
    finally:
        converge()
    # Healed: the state in force passes every control again (`pmops comply`, 14 s). A whole
    # audit of this converged host finding nothing is the waiver drill's below (57 s each).
    code, report, out = audit(tmp_path, command=("comply", "--no-testinfra"))
    assert code == 0 and failing(report) == set(), out


def test_a_waived_control_is_not_remediated(tmp_path):
    """SSH-05 waived for web-01: AllowGroups is left out of sshd_config, the audit says waived,
    and once the exception is gone the next converge puts it back."""
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory" / "lab", inventory)
    register = [{"control": "SSH-05", "hosts": [HOST], "reason": "Vendor support login during the migration",
                 "owner": "ops@example.cn", "ticket": "CHG-3", "expires": "2099-12-31"}]
    (inventory / "group_vars" / "all" / "exceptions.yml").write_text(yaml.safe_dump({"pmops_exceptions": register}))
    try:
        proc, _, out = drillkit.converge(limit=HOST, tags="ssh", inventory=str(inventory), timeout=600)
        assert proc.returncode == 0, out[-3000:]
        assert "waived by the exceptions register, left at the sshd defaults: SSH-05" in out
        effective = fresh_ssh("sshd -T -C user=pmops,host=localhost,addr=127.0.0.1").stdout
        assert "allowgroups" not in effective and "permitrootlogin no" in effective
        code, report, out = audit(tmp_path, str(inventory))
        assert code == 0 and report["controls"]["SSH-05"]["status"] == "waived", out
    finally:
        proc, _, out = drillkit.converge(limit=HOST, tags="ssh", timeout=600)
        assert proc.returncode == 0, out[-3000:]
    assert "allowgroups pmops" in fresh_ssh("sshd -T -C user=pmops,host=localhost,addr=127.0.0.1").stdout
