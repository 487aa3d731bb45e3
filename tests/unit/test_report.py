"""Compliance reports: merging check mode with testinfra, scores, JUnit, HTML, trend."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from pmops import controls, report

CATALOGUE = {
    "families": {"access_control": {"mlps": "8.1.4.2", "title": "Access control"},
                 "intrusion_prevention": {"mlps": "8.1.4.4", "title": "Intrusion prevention"},
                 "security_audit": {"mlps": "8.1.4.3", "title": "Security audit"}},
    "controls": [
        {"id": "SSH-01", "title": "Root cannot log in", "family": "access_control", "mlps": "8.1.4.2 b)", "cis": []},
        {"id": "ACC-04", "title": "No unmanaged sudoers", "family": "access_control", "mlps": "8.1.4.2 b)", "cis": []},
        {"id": "NET-01", "title": "Firewall", "family": "intrusion_prevention", "mlps": "8.1.4.4 c)", "cis": []},
    ],
}
RUN = {"id": "20261124T180000Z", "started": "2026-11-24T18:00:00Z", "inventory": "inventory/lab", "threshold": 100,
       "seconds": 12.0, "user": "ops", "git_commit": "abc123", "git_dirty": False}


def host(statuses: dict, etc_unchanged=True, unclaimed=()):
    return {"controls": {cid: ({"status": s, "evidence": [f"{cid} evidence"]} if isinstance(s, str) else s)
                         for cid, s in statuses.items()},
            "etc_unchanged": etc_unchanged, "unclaimed_changes": list(unclaimed)}


def build(hosts, testinfra=None, trend=(), **run):
    return report.build(dict(RUN, **run), CATALOGUE, hosts, testinfra or {}, list(trend))


@pytest.mark.parametrize(("ansible", "testinfra", "expected"), [
    ("pass", {"outcome": "passed"}, "pass"),
    ("pass", {"outcome": "failed", "detail": "assert 'yes' == 'no'", "test": "t::x"}, "fail"),
    ("pass", None, "pass"),
    ("fail", {"outcome": "passed"}, "fail"),
    ("not_checked", {"outcome": "passed"}, "pass"),
    ("not_checked", {"outcome": "skipped", "detail": "not a db host"}, "not_applicable"),
    ("not_checked", None, "not_checked"),
    ("unreachable", {"outcome": "passed"}, "unreachable"),
    ("error", {"outcome": "passed"}, "error"),
])
def test_merge_takes_the_worse_of_check_mode_and_testinfra(ansible, testinfra, expected):
    result = controls.merge({"status": ansible, "evidence": []}, testinfra)
    assert result["status"] == expected
    assert result["checks"]["ansible"] == ansible


def test_a_failing_assertion_is_evidence():
    result = controls.merge({"status": "pass", "evidence": []},
                            {"outcome": "failed", "detail": "assert 'yes' == 'no'", "test": "test_ssh.py::test_x"})
    assert result["evidence"] == ["testinfra test_ssh.py::test_x: assert 'yes' == 'no'"]


def test_a_waiver_stays_waived_whatever_testinfra_says():
    waiver = {"owner": "li.wei", "expires": "2099-12-31", "status": "waived"}
    result = controls.merge({"status": "waived", "evidence": ["waived"], "waiver": waiver}, {"outcome": "failed"})
    assert result["status"] == "waived" and result["waiver"] == waiver


def test_scores_count_waived_as_compliant_and_leave_out_not_applicable():
    r = build({"h1": host({"SSH-01": "pass", "ACC-04": "waived", "NET-01": "not_applicable"}),
               "h2": host({"SSH-01": "fail", "ACC-04": "pass", "NET-01": "pass"})})
    assert r["hosts"]["h1"]["score"] == 100.0
    assert r["hosts"]["h2"]["score"] == pytest.approx(66.7)
    assert r["summary"]["score"] == 80.0
    assert r["families"]["access_control"]["score"] == 75.0
    assert r["families"]["intrusion_prevention"]["score"] == 100.0
    assert "security_audit" not in r["families"]  # no control of it in the catalogue
    assert r["summary"]["compliant"] is False


def test_an_unreachable_host_is_never_compliant():
    r = build({"h1": host({"SSH-01": "pass", "ACC-04": "pass", "NET-01": "pass"}),
               "h2": host({c: "unreachable" for c in ("SSH-01", "ACC-04", "NET-01")}, etc_unchanged=False)})
    assert r["hosts"]["h2"]["reachable"] is False and r["hosts"]["h2"]["score"] == 0.0
    assert r["summary"]["compliant"] is False
    assert r["summary"]["changed_nothing"] is True  # an unreachable host was not touched either


def test_the_threshold_decides():
    hosts = {"h1": host({"SSH-01": "pass", "ACC-04": "pass", "NET-01": "fail"})}
    assert build(hosts, threshold=60)["summary"]["compliant"] is True
    assert build(hosts, threshold=70)["summary"]["compliant"] is False


def test_a_change_on_a_host_makes_the_run_not_compliant_whatever_the_score():
    r = build({"h1": host({"SSH-01": "pass", "ACC-04": "pass", "NET-01": "pass"}, etc_unchanged=False)})
    assert r["summary"]["score"] == 100.0 and r["summary"]["compliant"] is False


def test_the_trend_ends_with_this_run():
    r = build({"h1": host({"SSH-01": "pass", "ACC-04": "pass", "NET-01": "fail"})},
              trend=[{"id": "a", "started": "x", "score": 100.0}])
    assert [p["id"] for p in r["trend"]] == ["a", RUN["id"]]


def test_earlier_reports_are_read_oldest_first_and_foreign_files_skipped(tmp_path):
    for name, score in (("20261101T000000Z", 90.0), ("20261102T000000Z", 95.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(
            {"schema": report.SCHEMA, "run": {"id": name, "started": name}, "summary": {"score": score}}))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "report.json").write_text("{not json")
    assert [p["score"] for p in report.earlier(tmp_path)] == [90.0, 95.0]


def test_junit_has_one_case_per_host_and_control():
    waiver = {"owner": "li.wei", "expires": "2099-12-31", "status": "waived"}
    r = build({"h1": host({"SSH-01": "fail", "ACC-04": {"status": "waived", "evidence": ["waived until 2099-12-31"],
                                                        "waiver": waiver}, "NET-01": "pass"}),
               "h2": host({c: "unreachable" for c in ("SSH-01", "ACC-04", "NET-01")})})
    root = ET.fromstring(report.junit(r))
    assert root.get("tests") == "6" and root.get("failures") == "1" and root.get("errors") == "3"
    assert root.get("skipped") == "1"
    cases = {(c.get("classname"), c.get("name").split()[0]): c for c in root.iter("testcase")}
    assert len(cases) == 6
    assert cases[("pmops.h1", "SSH-01")].find("failure").text == "SSH-01 evidence"
    assert cases[("pmops.h1", "ACC-04")].find("skipped").get("message").startswith("waived")
    assert cases[("pmops.h2", "NET-01")].find("error").get("type") == "unreachable"


def test_html_shows_scores_drift_waivers_and_the_chart_escaped():
    waiver = {"owner": "li.wei", "expires": "2099-12-31", "ticket": "CHG-1", "reason": "<vendor>", "status": "waived"}
    r = build({"h1": host({"SSH-01": {"status": "fail", "evidence": ["-PermitRootLogin no\n+PermitRootLogin yes"]},
                           "ACC-04": {"status": "waived", "evidence": ["w"], "waiver": waiver}, "NET-01": "pass"})},
              trend=[{"id": "a", "started": "2026-11-20T00:00:00Z", "score": 100.0}])
    page = report.render_html(r)
    assert '<span id="overall-score">66.7 %</span>' in page and "NOT compliant" in page
    assert 'data-control="SSH-01"' in page and "+PermitRootLogin yes" in page
    assert "li.wei" in page and "2099-12-31" in page and "&lt;vendor&gt;" in page and "<vendor>" not in page
    assert page.count('class="point"') == 2 and "<polyline" in page


def test_html_lists_what_a_passing_live_check_records():
    enrolled = {"status": "pass", "evidence": ["li.wei: enrolled (secret of 2026-12-01)"], "live": "pass"}
    page = report.render_html(build({"h1": host({"ACC-04": enrolled, "SSH-01": "pass", "NET-01": "pass"})}))
    assert 'id="evidence"' in page and "li.wei: enrolled (secret of 2026-12-01)" in page
    assert "SSH-01 evidence" not in page, "only evidence a live check recorded"


def test_write_makes_the_three_files(tmp_path):
    r = build({"h1": host({"SSH-01": "pass", "ACC-04": "pass", "NET-01": "pass"})})
    paths = report.write(r, tmp_path / "x")
    assert json.loads(paths["json"].read_text())["schema"] == "pmops-compliance/1"
    ET.fromstring(paths["junit"].read_text())
    assert "<svg" in paths["html"].read_text()
