"""The patch report's package comparison."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "filter_plugins"))
from ansible.errors import AnsibleFilterError  # noqa: E402
from pmops_patch import pmops_package_changes, pmops_package_versions  # noqa: E402


def test_versions_parse_dpkg_query_lines():
    assert pmops_package_versions(["nginx-light 1.22.1-9", "libc6 2.36-9+deb12u9", ""]) == {
        "nginx-light": "1.22.1-9", "libc6": "2.36-9+deb12u9"}


def test_changes_name_upgraded_installed_and_removed_packages():
    before = ["libc6 2.36-9+deb12u8", "nginx-light 1.22.1-9", "old-thing 1.0"]
    after = ["libc6 2.36-9+deb12u9", "nginx-light 1.22.1-9", "needrestart 3.6-4"]
    assert pmops_package_changes(before, after) == [
        {"package": "libc6", "before": "2.36-9+deb12u8", "after": "2.36-9+deb12u9"},
        {"package": "needrestart", "before": None, "after": "3.6-4"},
        {"package": "old-thing", "before": "1.0", "after": None},
    ]


def test_no_change_is_an_empty_list():
    assert pmops_package_changes(["a 1"], ["a 1"]) == []


def test_bad_input_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match="list"):
        pmops_package_versions("a 1")
