"""The control catalogue is consistent: every control has its enforcing tag and its check."""

import copy

import pytest

import controls_doc

CATALOGUE = controls_doc.load()


def test_the_catalogue_is_consistent():
    assert controls_doc.errors(CATALOGUE) == []


def test_every_family_is_used_or_reserved_for_later_areas():
    assert {c["family"] for c in CATALOGUE["controls"]} <= set(CATALOGUE["families"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"test": "tests/integration/test_ssh.py::test_nothing_here"}, "has no test_nothing_here"),
        ({"test": "tests/integration/test_missing.py::test_x"}, "does not exist"),
        ({"test": "tests/integration/test_ssh.py::test_effective_setting[permitrootlogin-maybe]"}, "parameter 'maybe'"),
        ({"test": "somewhere else"}, "is not tests/integration/"),
        ({"tags": ["no_such_tag"]}, "no role task carries the tag 'no_such_tag'"),
        ({"tags": []}, "names no tag that enforces it"),
        ({"family": "vibes"}, "family 'vibes' is not one of"),
        ({"mlps": "8.1.4.9 a)"}, "is not under access_control"),
        ({"id": "ssh1"}, "id must look like AREA-NN"),
    ],
)
def test_a_control_without_its_check_or_enforcement_is_refused(change, expected):
    broken = copy.deepcopy(CATALOGUE)
    broken["controls"][3].update(change)  # SSH-01
    assert any(expected in e for e in controls_doc.errors(broken)), controls_doc.errors(broken)


def test_duplicate_ids_are_refused():
    broken = copy.deepcopy(CATALOGUE)
    broken["controls"].append(copy.deepcopy(broken["controls"][0]))
    assert "BASE-01: duplicate id" in controls_doc.errors(broken)


def test_readme_table_is_generated_from_the_catalogue():
    readme = controls_doc.README.read_text()
    assert controls_doc.render_readme(readme, CATALOGUE) == readme
    assert controls_doc.DOC.read_text() == controls_doc.render_doc(CATALOGUE)
