"""Plans (`pmops plan`): a plan lists exactly what a changed variable changes, and an unchanged
tree reads "No changes".

In web-01's lane (tests/drills/conftest.py) with app-02, the one lab host no drill of either
lane touches, stops or loads: web-01 is the host whose group the variable is set for, app-02
the host that must stay unchanged. A plan is site.yml in check mode, so the lane's other
drills on web-01 run before or after it, never during it.
"""

from __future__ import annotations

import json
import shutil

import drillkit
from drillkit import ROOT

CHANGED, UNCHANGED = "web-01", "app-02"


def test_a_plan_lists_exactly_what_a_changed_variable_changes(tmp_path):
    # The changed plan covers web-01, whose group the variable is set for, and app-02,
    # which must stay unchanged: the whole of site.yml in check mode on an unchanged host
    # plans no change. A check-mode run of every host would add three minutes and prove
    # nothing more, since a plan is site.yml in check mode per host (the lab-check tier runs
    # that on all six). How an unchanged tree reads ("No changes", exit 0) is shown on one
    # role of one host: a second whole plan cost 50 s and proved no more. Run side by side,
    # two plans took as long as one after the other (120 s against 117 s): the controller's
    # CPU is what they wait for.
    proc, _, _ = drillkit.pmops("plan", "-i", "inventory/lab", "--limit", UNCHANGED, "--tags", "ssh",
                                "--out", str(tmp_path / "same"), "--detailed-exitcode")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "**No changes.** All 1 hosts were reached" in (tmp_path / "same" / "plan.md").read_text()
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory" / "lab", inventory)
    (inventory / "group_vars" / "web" / "zz-plan-drill.yml").write_text("ssh_max_auth_tries: 4\n")
    proc, _, _ = drillkit.pmops("plan", "-i", str(inventory), "--limit", f"{CHANGED},{UNCHANGED}",
                                "--out", str(tmp_path / "changed"), "--detailed-exitcode")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    plan = json.loads((tmp_path / "changed" / "plan.json").read_text())
    assert set(plan["changes"]) == {CHANGED}
    assert plan["hosts"] == sorted([CHANGED, UNCHANGED]) and not plan["failed"] and not plan["unreachable"]
    tasks = [c["task"] for c in plan["changes"][CHANGED]]
    assert tasks and all(t.startswith("ssh : ") for t in tasks), tasks
    assert "MaxAuthTries 4" in (tmp_path / "changed" / "plan.md").read_text()
