"""Plans from check + diff task results."""

from __future__ import annotations

from pmops import plan

RUN = {"inventory": "inventory/lab", "limit": None, "tags": [], "git_commit": "0123456789abcdef", "git_dirty": False}
HOSTS = ["app-01", "web-01"]


def ev(host, task, status="ok", **extra):
    return dict({"host": host, "task": task, "tags": [], "status": status, "loop": False}, **extra)


def test_an_unchanged_tree_says_no_changes():
    p = plan.summarise([ev("web-01", "ssh : Write sshd_config"), ev("app-01", "app : Units")], HOSTS, RUN)
    assert p["no_changes"] is True and p["changes"] == {}
    assert "**No changes.** All 2 hosts were reached" in plan.markdown(p)


def test_changes_are_listed_per_host_and_task_with_their_diffs():
    p = plan.summarise([
        ev("web-01", "ssh : Write sshd_config", "changed", diff="-MaxAuthTries 6\n+MaxAuthTries 4"),
        ev("web-01", "hardening : Sysctl", "changed", loop=True),
        ev("web-01", "hardening : Sysctl", "changed", item="net.ipv4.tcp_syncookies"),
        ev("web-01", "hardening : Sysctl", "ok", item="kernel.kptr_restrict"),
        ev("app-01", "app : Units"),
    ], HOSTS, RUN)
    assert p["no_changes"] is False
    assert p["changes"] == {"web-01": [{"task": "ssh : Write sshd_config", "diff": "-MaxAuthTries 6\n+MaxAuthTries 4"},
                                       {"task": "hardening : Sysctl", "item": "net.ipv4.tcp_syncookies"}]}
    text = plan.markdown(p)
    assert "**2 tasks would change on 1 of 2 hosts.**" in text
    assert "| app-01 | 0 | 0 |" in text and "| web-01 | 2 | 0 |" in text
    assert "  +MaxAuthTries 4" in text and "- hardening : Sysctl [net.ipv4.tcp_syncookies]" in text


def test_a_loop_without_item_detail_counts_once():
    p = plan.summarise([ev("web-01", "baseline : Packages", "changed", loop=True)], HOSTS, RUN)
    assert p["changes"] == {"web-01": [{"task": "baseline : Packages"}]}


def test_unreachable_and_failed_hosts_are_never_no_changes():
    p = plan.summarise([ev("web-01", "Gathering Facts", "unreachable"), ev("app-01", "x")], HOSTS, RUN)
    assert p["no_changes"] is False and p["unreachable"] == ["web-01"]
    assert "| web-01 | unreachable | |" in plan.markdown(p)
    p = plan.summarise([ev("web-01", "ssh : Validate", "failed", msg="sshd -t: bad | option")], HOSTS, RUN)
    assert p["no_changes"] is False and p["failed"] == {"web-01": [{"task": "ssh : Validate", "msg": "sshd -t: bad | option"}]}
    assert "bad \\| option" in plan.markdown(p)


def test_no_host_at_all_is_not_no_changes():
    assert plan.summarise([], [], RUN)["no_changes"] is False
