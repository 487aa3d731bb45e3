"""Filters for playbooks/patch.yml: package lists before and after an upgrade."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def pmops_package_versions(lines) -> dict[str, str]:
    """`dpkg-query -W -f='${Package} ${Version}\\n'` lines to {package: version}."""
    if not isinstance(lines, list):
        raise AnsibleFilterError("pmops_package_versions needs a list of 'package version' lines")
    out = {}
    for line in lines:
        name, _, version = str(line).strip().partition(" ")
        if name:
            out[name] = version.strip()
    return out


def pmops_package_changes(before, after) -> list[dict]:
    """What an upgrade changed: one entry per package, sorted, with before and after
    (None for a package that was installed or removed)."""
    old, new = pmops_package_versions(before), pmops_package_versions(after)
    changes = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            changes.append({"package": name, "before": old.get(name), "after": new.get(name)})
    return changes


class FilterModule:
    def filters(self):
        return {"pmops_package_versions": pmops_package_versions, "pmops_package_changes": pmops_package_changes}
