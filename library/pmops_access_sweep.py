#!/usr/bin/python
"""Remove what the access matrix does not name: sudoers.d files and authorized keys."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pmops_access_sweep
short_description: Remove sudoers.d files and SSH keys that the access matrix does not name
description:
  - Removes every file in O(sudoers_dir) that is not listed in O(keep), and every key in the
    authorized_keys of the given accounts that is not one of that account's keys in O(keys).
  - Reports what it removed (file names; key type, the end of the key and its comment), so a
    converge names the unmanaged access it took away.
  - A sudoers file that names O(protect_user) is never removed (it is reported in
    RV(protected)), so the automation account cannot lose sudo this way.
version_added: "0.1.0"
author: Power Marketing Ops
options:
  sudoers_dir:
    description: Directory of sudoers drop-ins.
    type: path
    default: /etc/sudoers.d
  keep:
    description: File names in O(sudoers_dir) that are managed and stay.
    type: list
    elements: str
    default: []
  keys:
    description: Account name to the list of its wanted public keys (authorized_keys lines).
    type: dict
    default: {}
  protect_user:
    description: The automation account; a sudoers file naming it is never removed.
    type: str
    required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Remove unmanaged sudoers files and keys
  pmops_access_sweep:
    keep: [README, 00-pmops-automation, 10-pmops-defaults, 60-pmops-duty-ops_admin]
    keys:
      li.wei: ["ssh-ed25519 AAAAC3... li.wei@laptop"]
    protect_user: pmops
"""

RETURN = r"""
removed_sudoers:
  description: sudoers.d files removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
removed_keys:
  description: Keys removed, per account, described by type, key end and comment.
  returned: always
  type: dict
protected:
  description: Unlisted sudoers files kept because they name the automation account.
  returned: always
  type: list
  elements: str
"""

import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmops_access import describe_key, mentions_user, sweep_keys, unmanaged_sudoers


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sudoers_dir=dict(type="path", default="/etc/sudoers.d"),
            keep=dict(type="list", elements="str", default=[]),
            keys=dict(type="dict", default={}, no_log=False),
            protect_user=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    removed_sudoers, protected, removed_keys = [], [], {}
    before, after = [], []
    if os.path.isdir(p["sudoers_dir"]):
        for name in unmanaged_sudoers(os.listdir(p["sudoers_dir"]), p["keep"]):
            path = os.path.join(p["sudoers_dir"], name)
            try:
                with open(path) as fh:
                    text = fh.read()
            except OSError as exc:
                module.fail_json(msg=f"cannot read {path}: {exc}")
            if mentions_user(text, p["protect_user"]):
                protected.append(name)
                continue
            removed_sudoers.append(name)
            before.append(f"{path}:\n{text}")
            if not module.check_mode:
                os.remove(path)
    for user, wanted in sorted(p["keys"].items()):
        try:
            home = pwd.getpwnam(user).pw_dir
        except KeyError:
            continue
        path = os.path.join(home, ".ssh", "authorized_keys")
        if not os.path.isfile(path):
            continue
        with open(path) as fh:
            text = fh.read()
        new, removed = sweep_keys(text, wanted or [])
        if not removed:
            continue
        removed_keys[user] = [describe_key(line) for line in removed]
        before.append(f"{path}:\n{text}")
        after.append(f"{path}:\n{new}")
        if not module.check_mode:
            stat = os.stat(path)
            tmp = path + ".pmops-tmp"
            with open(tmp, "w") as fh:
                fh.write(new)
            os.chown(tmp, stat.st_uid, stat.st_gid)
            os.chmod(tmp, stat.st_mode & 0o777)
            os.replace(tmp, path)
    changed = bool(removed_sudoers or removed_keys)
    module.exit_json(
        changed=changed,
        removed_sudoers=removed_sudoers,
        removed_keys=removed_keys,
        protected=protected,
        diff={"before": "\n".join(before), "after": "\n".join(after)} if changed else {},
    )


if __name__ == "__main__":
    main()
