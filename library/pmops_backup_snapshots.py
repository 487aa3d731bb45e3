#!/usr/bin/python
"""Report a restic repository's snapshots, their age, and which backups are stale."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pmops_backup_snapshots
short_description: Snapshots of a restic repository with their age, newest per tag, and staleness
description:
  - Runs C(restic snapshots --json) against O(repository) with the password in O(password_file)
    and returns every snapshot (id, time, age in seconds, host, tags, paths), the newest per tag,
    and the tags whose newest snapshot is older than O(max_age_hours) allows.
  - Read-only: it never changes the repository, so check mode runs it as usual and there is no
    diff. With O(fail_when_stale) it fails naming the stale tags (for pre-checks such as
    playbooks/patch.yml's "recent database backup").
version_added: "0.1.0"
author: Power Marketing Ops
options:
  repository:
    description: The restic repository (for example C(sftp:restic@backup-01:/srv/restic/db-01)).
    type: str
    required: true
  password_file:
    description: File holding the repository's password (root-only on the host).
    type: path
    required: true
  tags:
    description: Only snapshots with one of these tags.
    type: list
    elements: str
    default: []
  host:
    description: Only snapshots made by this host name.
    type: str
  max_age_hours:
    description: Tag to the age in hours its newest snapshot may have.
    type: dict
    default: {}
  fail_when_stale:
    description: Fail when a tag in O(max_age_hours) is stale or has no snapshot.
    type: bool
    default: false
  restic:
    description: The restic program.
    type: path
    default: /usr/bin/restic
  environment:
    description: Further environment for restic (for example C(RESTIC_CACHE_DIR)).
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
    details: read-only, nothing to show
"""

EXAMPLES = r"""
- name: How old is the newest database dump?
  pmops_backup_snapshots:
    repository: sftp:restic@backup-01:/srv/restic/db-01
    password_file: /etc/pmops-backup/password
    tags: [postgresql]
    max_age_hours: {postgresql: 26}
  register: db_backups

- name: Refuse to patch without a recent database backup
  pmops_backup_snapshots:
    repository: sftp:restic@backup-01:/srv/restic/db-01
    password_file: /etc/pmops-backup/password
    max_age_hours: {postgresql: 26}
    fail_when_stale: true
"""

RETURN = r"""
snapshots:
  description: Every snapshot, newest first, with id, short_id, time (UTC), age_seconds, host, tags and paths.
  returned: always
  type: list
  elements: dict
latest:
  description: Tag to its newest snapshot ("" for snapshots without tags).
  returned: always
  type: dict
count:
  description: Number of snapshots.
  returned: always
  type: int
stale:
  description: One sentence per tag of O(max_age_hours) whose newest snapshot is too old or missing.
  returned: always
  type: list
  elements: str
"""

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmops_backup import latest_by_tag, stale, summarise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            repository=dict(type="str", required=True),
            password_file=dict(type="path", required=True, no_log=False),
            tags=dict(type="list", elements="str", default=[]),
            host=dict(type="str"),
            max_age_hours=dict(type="dict", default={}),
            fail_when_stale=dict(type="bool", default=False),
            restic=dict(type="path", default="/usr/bin/restic"),
            environment=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        limits = {str(tag): int(float(hours) * 3600) for tag, hours in p["max_age_hours"].items()}
    except (TypeError, ValueError):
        module.fail_json(msg="max_age_hours must map each tag to a number of hours")
    argv = [p["restic"], "--no-lock", "snapshots", "--json"]
    for tag in p["tags"]:
        argv += ["--tag", tag]
    if p["host"]:
        argv += ["--host", p["host"]]
    env = dict(os.environ, RESTIC_REPOSITORY=p["repository"], RESTIC_PASSWORD_FILE=p["password_file"])
    env.update({str(k): str(v) for k, v in p["environment"].items()})
    rc, out, err = module.run_command(argv, environ_update=env)
    if rc != 0:
        module.fail_json(msg=f"restic could not list the snapshots of {p['repository']}: {err.strip() or out.strip()}",
                         rc=rc)
    try:
        summary = summarise(json.loads(out or "[]"), datetime.datetime.now(datetime.timezone.utc))
    except ValueError as exc:
        module.fail_json(msg=f"restic's snapshot list could not be read: {exc}")
    problems = stale(summary, limits)
    result = dict(changed=False, snapshots=summary, latest=latest_by_tag(summary), count=len(summary),
                  stale=problems)
    if problems and p["fail_when_stale"]:
        module.fail_json(msg="stale backups: " + "; ".join(problems), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
