"""Issue 15, drill (b): a stopped host pages HostDown, and its other alerts (the nginx exporter's
failed scrape, the portal probe through it) fire in Prometheus but are held back by Alertmanager,
while the host is down and while its exporters come back after it (HostRecentlyDown, the
inhibition's source, lasts 3 minutes past node-exporter's first answer). web-01's lane
(tests/drills/conftest.py); its latency goes to .cache/alert-latencies.json."""

from __future__ import annotations

import time

import drillkit as dk
from pmops.monitoring import matching

HOST = "web-01"
record, firing, wait_until = dk.record_latency, dk.firing, dk.wait_until


def reached_receiver(since: float) -> set[str]:
    return {r["labels"]["alertname"] for r in matching(dk.notifications(), since=since, status="firing", host=HOST)}


def test_b_a_stopped_host_pages_host_down_and_holds_back_its_other_alerts():
    prom = dk.prometheus()
    stopped = time.time()
    proc = dk.lab.podman("stop", "-t", "5", dk.topology().host(HOST).container, check=False)
    assert proc.returncode == 0, proc.stderr
    try:
        fired = dk.wait_for_notification(stopped, "firing", timeout=180, alertname="HostDown", host=HOST)
        # the nginx exporter's scrape fails too: ExporterDown fires in Prometheus and must reach nobody
        held = wait_until(lambda: firing(prom, alertname="ExporterDown", host=HOST), 90)
        time.sleep(15)  # longer than group_wait: a notification not held back would be here now
        while_down = reached_receiver(stopped)
        source = firing(prom, alertname="HostRecentlyDown", host=HOST)
    finally:
        proc, _, out = dk.pmops("lab", "up", timeout=600)
    assert proc.returncode == 0, out[-2000:]
    record("b: host web-01 stopped", fired_s=fired or -1)
    assert fired is not None and fired <= 120, f"HostDown for {HOST} arrived after {fired} s"
    assert held, "ExporterDown never fired for the stopped host: the inhibition was not put to the test"
    assert source, "HostRecentlyDown, the inhibition's source, did not fire for the stopped host"
    assert while_down == {"HostDown"}, f"alerts of the down host that reached the receiver: {sorted(while_down)}"
    # Back up: its exporters answer after node-exporter does, and what fired for them while the
    # host was down resolves without reaching anybody (the inhibition outlasts the restart).
    resolved = wait_until(lambda: not firing(prom, alertname="ExporterDown", host=HOST), 120)
    assert resolved, "ExporterDown still fires two minutes after the host came back"
    after = reached_receiver(stopped)
    assert after == {"HostDown"}, f"alerts of the restarted host that reached the receiver: {sorted(after)}"
