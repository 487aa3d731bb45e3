#!/usr/bin/python
"""End every process (and so every session) of revoked accounts."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pmops_sessions
short_description: End the running sessions and processes of revoked accounts
description:
  - For each account in O(users) that exists, sends SIGTERM to all its processes, waits up to
    O(grace) seconds, then SIGKILL to what is left. Logged-in SSH sessions end with them.
  - Refuses to touch C(root) or O(protect_user), the automation account, by name or by uid (an
    account that shares uid 0 or the automation account's uid is refused too).
version_added: "0.1.0"
author: Power Marketing Ops
options:
  users:
    description: Accounts whose sessions end. Unknown accounts are ignored.
    type: list
    elements: str
    required: true
  protect_user:
    description: The automation account, never touched.
    type: str
    required: true
  grace:
    description: Seconds between SIGTERM and SIGKILL.
    type: int
    default: 3
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: End the sessions of people who lost access
  pmops_sessions:
    users: [chen.gone]
    protect_user: pmops
"""

RETURN = r"""
ended:
  description: Account to the process ids that were ended (or would be, in check mode).
  returned: always
  type: dict
"""

import os
import pwd
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmops_access import processes_of


def _uid(user):
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            users=dict(type="list", elements="str", required=True),
            protect_user=dict(type="str", required=True),
            grace=dict(type="int", default=3),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # By uid, not only by name: the processes of a second uid 0 (an alias of root) are root's,
    # and those of an alias of the automation account are its own.
    protected = {0}
    try:
        protected.add(pwd.getpwnam(p["protect_user"]).pw_uid)
    except KeyError:
        pass
    refused = [u for u in p["users"] if u in ("root", p["protect_user"]) or _uid(u) in protected]
    if refused:
        module.fail_json(msg=f"refusing to end the sessions of {', '.join(refused)}: root's or the automation "
                             f"account's uid")
    ended = {}
    for user in p["users"]:
        try:
            uid = pwd.getpwnam(user).pw_uid
        except KeyError:
            continue
        pids = processes_of(uid)
        if pids:
            ended[user] = pids
    if ended and not module.check_mode:
        for pids in ended.values():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + p["grace"]
        while time.monotonic() < deadline and any(processes_of(pwd.getpwnam(u).pw_uid) for u in ended):
            time.sleep(0.2)
        for user in ended:
            for pid in processes_of(pwd.getpwnam(user).pw_uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    module.exit_json(
        changed=bool(ended),
        ended=ended,
        diff={"before": "".join(f"{u}: {len(v)} processes\n" for u, v in ended.items()),
              "after": "".join(f"{u}: 0 processes\n" for u in ended)} if ended else {},
    )


if __name__ == "__main__":
    main()
