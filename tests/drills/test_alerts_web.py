"""Issue 15, drill (b): a stopped host pages HostDown, and its other alerts (the nginx exporter's
failed scrape, the portal probe through it) fire in Prometheus but are held back by Alertmanager.
web-01's lane (tests/drills/conftest.py); its latency goes to .cache/alert-latencies.json."""

from __future__ import annotations

import time

import drillkit as dk
from pmops.monitoring import matching

HOST = "web-01"
record, firing, wait_until = dk.record_latency, dk.firing, dk.wait_until


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
    finally:
        proc, _, out = dk.pmops("lab", "up", timeout=600)
    assert proc.returncode == 0, out[-2000:]
    record("b: host web-01 stopped", fired_s=fired or -1)
    assert fired is not None and fired <= 120, f"HostDown for {HOST} arrived after {fired} s"
    assert held, "ExporterDown never fired for the stopped host: the inhibition was not put to the test"
    others = {r["labels"]["alertname"] for r in matching(dk.notifications(), since=stopped, status="firing", host=HOST)}
    assert others == {"HostDown"}, f"alerts of the down host that reached the receiver: {sorted(others)}"
