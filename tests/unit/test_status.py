"""pmops status on canned Prometheus answers: the verdict, the figures, both renderings."""

from __future__ import annotations

import json

import pytest

from pmops import status
from pmops.monitoring import MonitoringError, Prometheus, matching, notifications


class Canned(Prometheus):
    def __init__(self, targets, alerts, values, fail=False):
        super().__init__("https://monitor-01:9090")
        self._targets, self._alerts, self._values, self._fail = targets, alerts, values, fail

    def targets(self):
        if self._fail:
            raise MonitoringError("https://monitor-01:9090/api/v1/targets: HTTP 401 Unauthorized")
        return self._targets

    def alerts(self):
        return self._alerts

    def query(self, expr):
        for key, answer in self._values.items():
            if key in expr:
                return answer
        return []


def target(job, host, health="up", error=""):
    return {"labels": {"job": job, "host": host}, "health": health, "lastError": error}


def alert(name, severity, host=""):
    return {"labels": {"alertname": name, "severity": severity, "host": host}, "state": "firing",
            "activeAt": "2026-12-01T01:00:00Z", "annotations": {"summary": f"{name} on {host}"}}


VALUES = {
    "pmops_marketing_readings_last_minute": [{"metric": {}, "value": [0, "12"]}],
    "portal_meter_readings_rejected_total": [{"metric": {}, "value": [0, "3"]}],
    "pmops_marketing_reading_coverage_ratio": [{"metric": {}, "value": [0, "0.875"]}],
    "time() - max by (host) (pmops_backup_last_success": [{"metric": {"host": "db-01"}, "value": [0, "3600"]}],
    "max by (host) (pmops_backup_enrolled": [{"metric": {"host": "db-01"}, "value": [0, "1"]},
                                             {"metric": {"host": "web-01"}, "value": [0, "1"]}],
    "max by (host) (pmops_restore_drill_enrolled": [{"metric": {"host": "db-01"}, "value": [0, "1"]}],
}


def test_a_healthy_system_is_ok_on_both_renderings(tmp_path):
    prom = Canned([target("node", "db-01"), target("node", "web-01")], [alert("Watchdog", "none")], VALUES)
    s = status.collect(prom, reports=tmp_path, now=1796100000)
    assert status.verdict(s) == "OK"
    text = status.terminal(s)
    assert "Targets: 2 of 2 up" in text and "and the Watchdog: yes" in text
    assert "meter readings in the last minute          12" in text and "87.5 %" in text
    assert "db-01        backup 60 min" in text and "web-01       backup never" in text
    page = status.page(s)
    assert '<span id="verdict" class="OK">OK</span>' in page and '<span id="targets-up">2</span>' in page
    assert 'id="business-rejected_today">3<' in page and "no report yet" in page


def test_a_down_target_or_a_page_needs_attention_and_a_lost_watchdog_is_said(tmp_path):
    prom = Canned([target("node", "db-01", "down", "connection refused")],
                  [alert("HostDown", "page", "db-01"), alert("HostRecentlyDown", "none", "db-01")], VALUES)
    s = status.collect(prom, reports=tmp_path)
    assert status.verdict(s) == "ATTENTION"
    assert [a["alertname"] for a in s.paging] == ["HostDown"]  # severity none reaches nobody
    text = status.terminal(s)
    assert "DOWN node            db-01        connection refused" in text
    assert "NO - alerting is broken" in text and "page   HostDown" in text
    assert 'data-alert="HostDown"' in status.page(s)


def test_prometheus_refusing_is_unknown_not_ok(tmp_path):
    s = status.collect(Canned([], [], {}, fail=True), reports=tmp_path)
    assert status.verdict(s) == "UNKNOWN" and "HTTP 401" in status.terminal(s)


def test_the_newest_compliance_report_is_shown(tmp_path):
    for run, score in (("20261130T010000Z", 90.0), ("20261201T010000Z", 100.0)):
        (tmp_path / run).mkdir()
        (tmp_path / run / "report.json").write_text(json.dumps({"summary": {"score": score, "compliant": score == 100}}))
    s = status.collect(Canned([], [alert("Watchdog", "none")], {}), reports=tmp_path)
    assert "Compliance: 100.0 % (compliant), run 20261201T010000Z" in status.terminal(s)


def test_the_business_day_is_shanghai_s():
    # 2026-12-01 00:30 UTC is 08:30 in Shanghai: 8.5 hours into the day
    assert status.since_midnight(1796085000) == 8 * 3600 + 1800


def test_a_non_lab_inventory_needs_the_prometheus_settings(monkeypatch):
    monkeypatch.delenv("PMOPS_PROMETHEUS_URL", raising=False)
    with pytest.raises(status.PmopsError, match="PMOPS_PROMETHEUS_URL"):
        status.connect("inventory/production")


def test_receiver_lines_become_one_record_per_alert():
    line = json.dumps({"received": 100.0, "notification": {"alerts": [
        {"status": "firing", "labels": {"alertname": "HostDown", "host": "app-01"}, "startsAt": "x"},
        {"status": "resolved", "labels": {"alertname": "HostDown", "host": "app-02"}, "startsAt": "y"}]}})
    records = notifications(line + "\n\n")
    assert [r["labels"]["host"] for r in records] == ["app-01", "app-02"]
    assert matching(records, since=99, status="firing", alertname="HostDown") == [records[0]]
    assert matching(records, since=101) == []


def test_the_watchdog_finds_nothing_when_the_path_to_a_person_works():
    ones = {expr: [{"metric": {}, "value": [0, "1"]}] for _, expr, _ in status.WATCH}
    ones["vector(1)"] = [{"metric": {}, "value": [0, "1"]}]
    assert status.watchdog(Canned([], [], ones)) == []


def test_the_watchdog_names_each_broken_link():
    answers = {expr: [{"metric": {}, "value": [0, "1"]}] for _, expr, _ in status.WATCH}
    answers["vector(1)"] = [{"metric": {}, "value": [0, "1"]}]
    answers['min(up{job="alertmanager"})'] = [{"metric": {}, "value": [0, "0"]}]
    del answers['count(ALERTS{alertname="Watchdog", alertstate="firing"})']
    assert status.watchdog(Canned([], [], answers)) == [
        "Prometheus evaluates no rules: no alert can fire", "Alertmanager does not answer: alerts go nowhere"]


def test_a_prometheus_that_does_not_answer_is_said_once():
    class Dead(Prometheus):
        def query(self, expr):
            raise MonitoringError("https://monitor-01:9090/api/v1/query: [Errno 111] Connection refused")
    assert status.watchdog(Dead("https://monitor-01:9090")) == [
        "Prometheus does not answer: https://monitor-01:9090/api/v1/query: [Errno 111] Connection refused"]


def test_the_watchdog_that_cannot_read_its_password_says_alerting_is_broken(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PMOPS_PROMETHEUS_URL", "https://monitor.invalid:9090")
    monkeypatch.setenv("PMOPS_PROMETHEUS_PASSWORD_FILE", str(tmp_path / "missing"))
    assert status.run_watchdog("inventory/production") == 1
    assert "ALERTING IS BROKEN: pmops: PMOPS_PROMETHEUS_PASSWORD_FILE" in capsys.readouterr().out
