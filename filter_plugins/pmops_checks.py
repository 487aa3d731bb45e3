"""The control checks of pmops comply (pmops/checks.py) for roles, so that a converge decides
what to put right with the same code that reports the drift."""

from __future__ import annotations

import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pmops import checks  # noqa: E402

DOCUMENTATION = r"""
name: pmops_drift
short_description: What pmops comply would report for a control, from the live state and the policy
positional: wanted, control
options:
  _input:
    description: The state section(s) pmops_live_state returned (its C(state)).
    type: dict
    required: true
  wanted:
    description: The roles' published policy, e.g. C({'firewall_wanted': firewall_wanted}).
    type: dict
    required: true
  control:
    description: The control id.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Rules loaded but not in the policy, or missing
  ansible.builtin.debug:
    msg: "{{ live.state | pmops_drift({'firewall_wanted': firewall_wanted}, 'NET-01') }}"
"""

RETURN = r"""
_value:
  description: One line per problem; empty when the control holds.
  type: list
  elements: str
"""


def pmops_drift(state, wanted, control) -> list[str]:
    if not isinstance(state, dict) or not isinstance(wanted, dict):
        raise AnsibleFilterError("pmops_drift needs the live state (a dict) and the wanted policy (a dict)")
    if control not in checks.controls_checked():
        raise AnsibleFilterError(f"pmops_drift: no check in force for control {control!r}")
    problems = checks.run_checks(wanted, state).get(control, [])
    return problems[:problems.index(checks.NOTE)] if checks.NOTE in problems else problems


def pmops_unknown_accounts(state, wanted) -> list[str]:
    """Accounts that are neither system accounts, the automation account nor people (ACC-06)."""
    if not isinstance(state, dict) or not isinstance(wanted, dict):
        raise AnsibleFilterError("pmops_unknown_accounts needs the live state (a dict) and the wanted policy (a dict)")
    return checks.unknown_accounts(wanted, state)


def pmops_unknown_db_roles(state, wanted) -> list[str]:
    """Database roles that are superusers or can log in and that the policy does not name (DB-02)."""
    if not isinstance(state, dict) or not isinstance(wanted, dict):
        raise AnsibleFilterError("pmops_unknown_db_roles needs the live state (a dict) and the wanted policy (a dict)")
    return checks.unknown_db_roles(wanted, state)


def pmops_password_fixes(state, days, inactive) -> dict[str, list[str]]:
    """Accounts whose usable password a converge must age ({age: [...]}) or whose last change
    is dated in the future ({future: [...]}) (HARD-02)."""
    if not isinstance(state, dict) or not isinstance(days, dict):
        raise AnsibleFilterError("pmops_password_fixes needs the live state (a dict) and the password days (a dict)")
    return checks.password_fixes(state, days, int(inactive))


def pmops_system_login_shells(state, automation) -> list[str]:
    """System accounts that still have a login shell (ACC-06, CIS 5.4.2.7), never the automation account."""
    if not isinstance(state, dict) or not isinstance(automation, str) or not automation:
        raise AnsibleFilterError("pmops_system_login_shells needs the live state (a dict) and the automation account's name")
    return checks.system_login_shells(state, automation)


def pmops_home_fixes(state) -> dict[str, list]:
    """Homes to make private, dot files to remove or close to others (ACC-07, CIS 7.2.9-7.2.10)."""
    if not isinstance(state, dict) or not isinstance(state.get("accounts"), dict):
        raise AnsibleFilterError("pmops_home_fixes needs the live state's accounts section (a dict)")
    return checks.home_fixes(state["accounts"])


def pmops_log_file_fixes(state) -> list[dict]:
    """Log files to close, each with the symbolic mode that does it (HARD-16, CIS 6.2.2.1)."""
    if not isinstance(state, dict):
        raise AnsibleFilterError("pmops_log_file_fixes needs the live state (a dict)")
    return checks.log_file_fixes((state.get("probes") or {}).get("log_scan") or {"rc": None, "out": ""})


class FilterModule:
    def filters(self):
        return {"pmops_drift": pmops_drift, "pmops_unknown_accounts": pmops_unknown_accounts,
                "pmops_password_fixes": pmops_password_fixes, "pmops_system_login_shells": pmops_system_login_shells,
                "pmops_home_fixes": pmops_home_fixes, "pmops_log_file_fixes": pmops_log_file_fixes,
                "pmops_unknown_db_roles": pmops_unknown_db_roles}
