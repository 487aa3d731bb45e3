"""CIS coverage (scripts/cis_coverage.py): the benchmark file and the catalogue agree, every
recommendation gets exactly one status, and a disagreement is named."""

import yaml

import cis_coverage

BENCHMARK = yaml.safe_load(cis_coverage.BENCHMARK.read_text())
CATALOGUE = yaml.safe_load(cis_coverage.CATALOGUE.read_text())


def small(**out_of_scope):
    return {"benchmark": "B", "version": "1",
            "recommendations": [{"id": "1.1.1", "level": 1, "title": "a"}, {"id": "1.1.2", "level": 1, "title": "b"},
                                {"id": "1.2.1", "level": 2, "title": "c"}, {"id": "2.1", "level": 1, "title": "d"}],
            "out_of_scope": [{"ids": ["1.2."], "reason": "provisioning"}] if not out_of_scope else out_of_scope["entries"]}


def catalogue(*controls):
    return {"controls": [{"id": cid, "cis": cis, **({"heal": "a person"} if heal else {})} for cid, cis, heal in controls]}


def test_the_project_files_agree_and_the_page_is_current():
    assert cis_coverage.problems(BENCHMARK, CATALOGUE) == []
    assert cis_coverage.main(["--check"]) == 0


def test_every_level_1_recommendation_has_one_status_and_the_counts_add_up():
    rows = cis_coverage.coverage(BENCHMARK, CATALOGUE)
    assert len(rows) == len({r["id"] for r in rows}) == len(BENCHMARK["recommendations"])
    level1 = cis_coverage.counts(rows, 1)
    assert sum(level1.values()) == sum(r["level"] == 1 for r in BENCHMARK["recommendations"])
    assert all(r["reason"] for r in rows if r["status"] == "out of scope")
    # partitions are the installer's; the firewall is nftables, so ufw and iptables are out of scope
    status = {r["id"]: r["status"] for r in rows}
    assert status["1.1.2.1.1"] == status["4.1.1"] == status["4.3.1.1"] == "out of scope"
    assert status["4.2.8"] == status["5.1.20"] == "enforced"


def test_enforced_checked_out_of_scope_and_not_yet():
    rows = cis_coverage.coverage(small(), catalogue(("A-01", ["1.1.1"], False), ("A-02", ["2.1"], True)))
    assert [(r["id"], r["status"], r["controls"]) for r in rows] == [
        ("1.1.1", "enforced", ["A-01"]), ("1.1.2", "not yet", []), ("1.2.1", "out of scope", []), ("2.1", "checked", ["A-02"])]
    assert cis_coverage.counts(rows, 1) == {"enforced": 1, "checked": 1, "out of scope": 0, "not yet": 1}
    page = cis_coverage.render(small(), rows)
    assert "| Level 1 – Server | 1 | 1 | 0 | 1 | 3 |" in page and "| 1.2.1 | provisioning |" in page


def test_a_control_checked_and_enforced_elsewhere_counts_as_enforced():
    rows = cis_coverage.coverage(small(), catalogue(("A-01", ["2.1"], True), ("A-02", ["2.1"], False)))
    assert {r["id"]: r["status"] for r in rows}["2.1"] == "enforced"


def test_disagreements_are_named():
    bench = small(entries=[{"ids": ["1.2.", "9."], "reason": ""}])
    found = cis_coverage.problems(bench, catalogue(("A-01", ["1.2.1", "7.7"], False)))
    assert "out_of_scope ['1.2.', '9.']: no reason" in found
    assert "out_of_scope '9.' matches no recommendation" in found
    assert "A-01: CIS 7.7 is not a recommendation of cis-debian12.yml" in found
    assert any(p.startswith("A-01: CIS 1.2.1 is also out of scope") for p in found)
    bench = small()
    bench["recommendations"].append({"id": "1.1.1", "level": 3, "title": ""})
    found = cis_coverage.problems(bench, catalogue())
    assert "recommendation 1.1.1 is listed 2 times" in found
    assert "recommendation 1.1.1: level must be 1 or 2, not 3" in found and "recommendation 1.1.1: no title" in found
