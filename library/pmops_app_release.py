#!/usr/bin/python
"""Install, activate, list and prune an application's releases."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pmops_app_release
short_description: Releases of an application under releases/<version>, with a current link
description:
  - Keeps one directory per release under O(path)/releases/<version> and a C(current) link to
    the active one, with a small record (C(.pmops-releases.json)) of what was installed (version
    and sha256, in order) and activated (in order). Release identity comes from the manifest's
    version and sha256, never from file times.
  - C(state=present) checks the artifact's sha256 B(before) anything changes, then unpacks it
    into a temporary directory that is renamed into place. A release already present with the
    same sha256 is left alone; one with a different sha256 is refused (a version is immutable).
  - C(state=active) switches C(current) with a single rename. O(version=previous) means the
    release activated before the current one.
  - C(state=failed) marks a release as having failed its health check (a deploy's automatic
    rollback does): it is never chosen as C(previous) and is pruned first. Activating it again
    clears the mark.
  - C(state=pruned) removes releases beyond O(keep), failed ones first, then the earliest
    installed, never the current or the previous one. C(state=list) changes nothing.
version_added: "0.1.0"
author: Power Marketing Ops
options:
  path:
    description: The application's root directory (for example C(/opt/marketing-portal)).
    type: path
    required: true
  state:
    description: What to do.
    type: str
    choices: [present, active, failed, pruned, list]
    default: list
  version:
    description:
      - The release. Required for C(present), C(active) and C(failed); C(previous) is accepted by C(active).
    type: str
  src:
    description: The artifact (a tarball) on the managed host. Required for C(present).
    type: path
  sha256:
    description: The sha256 the artifact must have (from its manifest). Required for C(present).
    type: str
  keep:
    description: How many releases C(pruned) keeps (at least 2).
    type: int
    default: 3
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Unpack release 1.1.0 (its sha256 from the manifest is checked first)
  pmops_app_release:
    path: /opt/marketing-portal
    state: present
    version: "1.1.0"
    src: /var/cache/pmops/marketing-portal-1.1.0.tar.gz
    sha256: 318a0af6b37a1698beda465ce6fe9ed0b9ae489fab8d8c9f5897d7fc9db4857e

- name: Make it the current release
  pmops_app_release:
    path: /opt/marketing-portal
    state: active
    version: "1.1.0"

- name: Roll back to the release that was active before
  pmops_app_release:
    path: /opt/marketing-portal
    state: active
    version: previous

- name: Never offer 1.2.0 as the release to go back to (it failed its health check)
  pmops_app_release:
    path: /opt/marketing-portal
    state: failed
    version: "1.2.0"

- name: Keep three releases
  pmops_app_release:
    path: /opt/marketing-portal
    state: pruned
    keep: 3
"""

RETURN = r"""
current:
  description: The active release after the task (before it, in check mode when nothing would change).
  returned: always
  type: str
previous:
  description: The release activated before the current one, if it is still on disk.
  returned: always
  type: str
switched_from:
  description: The release that was current before an activation changed it.
  returned: when state is active
  type: str
releases:
  description: Releases on disk in installation order, each with version, sha256, active and failed.
  returned: always
  type: list
  elements: dict
pruned:
  description: Releases removed (or that would be removed, in check mode).
  returned: when state is pruned
  type: list
  elements: str
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmops_release import (
    ReleaseError, activate, check_version, current, installed, load_state, previous, record_activation,
    record_install, save_state, sha256_of, summary, to_prune, unpack)


def listing(versions, active):
    return "".join(f"{'* ' if v == active else '  '}{v}\n" for v in versions)


def run(module):
    p = module.params
    root, state_name = p["path"], p["state"]
    state = load_state(root)
    versions, active = [r["version"] for r in installed(root, state)], current(root)
    before = listing(versions, active)
    result = {"changed": False}
    if state_name == "present":
        for key in ("version", "src", "sha256"):
            if not p[key]:
                raise ReleaseError(f"state=present needs {key}")
        version = check_version(p["version"])
        want = p["sha256"].strip().lower()
        if not os.path.isfile(p["src"]):
            raise ReleaseError(f"artifact {p['src']} does not exist on the host")
        got = sha256_of(p["src"])
        if got != want:
            raise ReleaseError(f"artifact {p['src']} has sha256 {got}, but its manifest says {want}; "
                               "nothing was changed")
        known = {r["version"]: r for r in installed(root, state)}
        if version in known:
            if known[version]["sha256"] not in (None, want):
                raise ReleaseError(f"release {version} is already installed with sha256 "
                                   f"{known[version]['sha256']}; a release is immutable: build a new version")
        else:
            result["changed"] = True
            versions = versions + [version]
            if not module.check_mode:
                os.makedirs(root, mode=0o755, exist_ok=True)
                unpack(root, version, p["src"], want)
                record_install(state, version, want)
                save_state(root, state)
    elif state_name == "active":
        if not p["version"]:
            raise ReleaseError("state=active needs version (a release, or previous)")
        version = p["version"]
        if version == "previous":
            version = previous(root, state)
            if version is None:
                raise ReleaseError(f"there is no previous release to go back to in {root}")
        check_version(version)
        if version not in {r["version"] for r in installed(root, state)}:
            raise ReleaseError(f"release {version} is not installed in {root}/releases")
        was = current(root)
        result["switched_from"] = was
        if was != version:
            result["changed"] = True
            active = version
            if not module.check_mode:
                activate(root, version)
                record_activation(state, version)
                save_state(root, state)
    elif state_name == "failed":
        version = check_version(p["version"] or "")
        if version not in {r["version"] for r in installed(root, state)}:
            raise ReleaseError(f"release {version} is not installed in {root}/releases")
        if version not in state["failed"]:
            result["changed"] = True
            if not module.check_mode:
                state["failed"].append(version)
                save_state(root, state)
    elif state_name == "pruned":
        doomed = to_prune(root, state, p["keep"])
        result["pruned"] = doomed
        if doomed:
            result["changed"] = True
            versions = [v for v in versions if v not in doomed]
            if not module.check_mode:
                for version in doomed:
                    shutil.rmtree(os.path.join(root, "releases", version))
                state["installed"] = [r for r in state["installed"] if r["version"] not in doomed]
                save_state(root, state)
    result.update(summary(root, state))
    if result["changed"]:
        result["diff"] = {"before": before, "after": listing(versions, active),
                          "before_header": f"{root}/releases", "after_header": f"{root}/releases"}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", default="list", choices=["present", "active", "failed", "pruned", "list"]),
            version=dict(type="str"),
            src=dict(type="path"),
            sha256=dict(type="str"),
            keep=dict(type="int", default=3),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except (ReleaseError, OSError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
