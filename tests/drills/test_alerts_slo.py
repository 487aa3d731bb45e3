"""Issue 15, drill (d): PostgreSQL stopped under `pmops load` pages the portal's error-budget burn
within 3 minutes. Last phase (the load goes through web-01, both app hosts and db-01), and first
in it: after the application drills, their hour of clean traffic under load dilutes the
1-hour window so much that the page took over 4 minutes (CI, 2026-12-01). The deploy drill's
"no new alert" after it counts only alerts that start during the deploy. Its latency goes to
.cache/alert-latencies.json."""

from __future__ import annotations

import time

import drillkit as dk
from pmops.load import Load

record = dk.record_latency


def test_d_postgresql_stopped_under_load_pages_the_error_budget_burn_within_3_minutes():
    load = Load(dk.web_url(), dk.CA, workers=2).start()
    try:
        time.sleep(10)  # the portal's request rate is known before the outage
        stopped = time.time()
        proc = dk.sudo("db-01", "systemctl", "stop", "postgresql@15-main.service")
        assert proc.returncode == 0, proc.stderr
        try:
            fired = dk.wait_for_notification(stopped, "firing", timeout=240, alertname="PortalErrorBudgetBurn",
                                             severity="page")
        finally:
            proc = dk.sudo("db-01", "systemctl", "start", "postgresql@15-main.service")
    finally:
        result = load.stop()
    assert proc.returncode == 0, proc.stderr
    record("d: PostgreSQL stopped under load", fired_s=fired or -1, requests=result.sent, failed=result.failed)
    assert result.failed > 0, "the load saw no failure: the outage did not reach the portal"
    assert fired is not None and fired <= 180, f"the burn-rate page arrived after {fired} s"
