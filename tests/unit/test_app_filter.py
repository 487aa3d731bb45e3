"""The application tier's input checks (validation play)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "filter_plugins"))
from pmops_app import pmops_app_tier_errors  # noqa: E402

NAMES = ["all", "pmops", "web", "app", "db", "backup", "monitor", "web-01", "app-01", "db-01"]
BUILT = ["1.0.0", "1.1.0"]


def good(**changes):
    app = {
        "app_version": "1.0.0",
        "app_db_user": "marketing_portal",
        "app_db_name": "marketing",
        "postgresql_databases": [{"name": "marketing", "owner": "marketing_portal"}],
        "postgresql_roles": [{"name": "marketing_portal", "password": "x" * 24, "database": "marketing", "from": ["app"]}],
    }
    app.update(changes)
    return app


def role(**changes):
    return [dict(good()["postgresql_roles"][0], **changes)]


def test_the_lab_shape_passes():
    assert pmops_app_tier_errors(good(), BUILT, NAMES) == []


@pytest.mark.parametrize("app,needle", [
    (good(app_version="2.0.0"), "release 2.0.0 has no manifest"),
    (good(app_version=1.1), "is not a release name"),
    (good(app_version="../x"), "is not a release name"),
    (good(postgresql_roles=role(password="short")), "postgresql_roles[0] (marketing_portal).password: needs at least 16"),
    (good(postgresql_roles=role(database="billing")), "'billing' is not in postgresql_databases"),
    (good(postgresql_roles=role(**{"from": []})), ".from: list the inventory groups"),
    (good(postgresql_roles=role(**{"from": ["any"]})), "'any' is refused"),
    (good(postgresql_roles=role(**{"from": ["apps"]})), "'apps' is not an inventory group, host or network"),
    (good(postgresql_roles=role(name="Marketing")), ".name: must be a lower-case PostgreSQL name"),
    (good(postgresql_roles=["oops"]), "must be a mapping"),
    (good(app_db_user="portal"), "app_db_user: 'portal' is not in postgresql_roles"),
    (good(app_db_name="mkt"), "app_db_name: 'mkt' is not in postgresql_databases"),
    (good(postgresql_databases=[{"name": "marketing", "owner": "nobody"}]), "owner: 'nobody' is not in postgresql_roles"),
])
def test_bad_inputs_are_named(app, needle):
    errors = pmops_app_tier_errors(app, BUILT, NAMES)
    assert any(needle in e for e in errors), errors


def test_a_network_is_a_valid_source():
    assert pmops_app_tier_errors(good(postgresql_roles=role(**{"from": ["10.0.0.0/24"]})), BUILT, NAMES) == []
