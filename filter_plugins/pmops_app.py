"""Checks of the application tier's inputs for the validation play (pure Python)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

RELEASE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
PG_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _known_source(source, names) -> bool:
    if source == "any" or source in names:
        return True
    try:
        ipaddress.ip_network(str(source), strict=False)
        return True
    except ValueError:
        return False


def pmops_app_tier_errors(app: Mapping, built_versions, names) -> list[str]:
    """What is wrong with the release and database inputs; `app` holds app_* and postgresql_*
    variables, `built_versions` the releases whose manifests exist, `names` every inventory
    group and host."""
    if not isinstance(app, Mapping):
        raise AnsibleFilterError("pmops_app_tier_errors needs a mapping of the app_* and postgresql_* variables")
    errors = []
    version = app.get("app_version")
    if version is not None:
        if not isinstance(version, str) or not RELEASE.match(version):
            errors.append(f"app_version: {version!r} is not a release name (letters, digits, . _ + -; quote it in YAML)")
        elif version not in built_versions:
            errors.append(f"app_version: release {version} has no manifest in apps/marketing-portal/dist "
                          f"(built: {', '.join(sorted(built_versions)) or 'none'}); run `make artifacts`")
    databases = app.get("postgresql_databases") or []
    db_names = [d.get("name") for d in databases if isinstance(d, Mapping)]
    roles = app.get("postgresql_roles") or []
    for i, role in enumerate(roles):
        where = f"postgresql_roles[{i}]"
        if not isinstance(role, Mapping):
            errors.append(f"{where}: must be a mapping with name, password, database and from")
            continue
        where += f" ({role.get('name', '?')})"
        if not isinstance(role.get("name"), str) or not PG_NAME.match(role["name"]):
            errors.append(f"{where}.name: must be a lower-case PostgreSQL name")
        password = role.get("password")
        if not isinstance(password, str) or len(password) < 16:
            errors.append(f"{where}.password: needs at least 16 characters (from ansible-vault)")
        if role.get("database") not in db_names:
            errors.append(f"{where}.database: {role.get('database')!r} is not in postgresql_databases ({', '.join(db_names)})")
        sources = role.get("from")
        if not isinstance(sources, list) or not sources:
            errors.append(f"{where}.from: list the inventory groups, hosts or networks that may connect")
        else:
            for source in sources:
                if source == "any":
                    errors.append(f"{where}.from: 'any' is refused; the database admits named tiers only")
                elif not _known_source(source, names):
                    errors.append(f"{where}.from: {source!r} is not an inventory group, host or network")
    for i, db in enumerate(databases):
        owner = db.get("owner") if isinstance(db, Mapping) else None
        if owner is not None and owner not in [r.get("name") for r in roles if isinstance(r, Mapping)]:
            errors.append(f"postgresql_databases[{i}] ({db.get('name')}).owner: {owner!r} is not in postgresql_roles")
    user = app.get("app_db_user")
    if user is not None and roles and user not in [r.get("name") for r in roles if isinstance(r, Mapping)]:
        errors.append(f"app_db_user: {user!r} is not in postgresql_roles, so the application could not log in")
    if app.get("app_db_name") is not None and databases and app["app_db_name"] not in db_names:
        errors.append(f"app_db_name: {app['app_db_name']!r} is not in postgresql_databases")
    return errors


class FilterModule:
    def filters(self):
        return {"pmops_app_tier_errors": pmops_app_tier_errors}
