"""Marketing portal: the sample marketing application of Power Marketing Ops.

Electricity customers' accounts, their monthly meter readings and a bill computed with the
tiered residential tariff, on PostgreSQL. Deliberately small, but a real service: versioned
schema migrations, a health check that asks the database, /version and Prometheus metrics.
Runs on the Python and psycopg2 of Debian 12 (python3, python3-psycopg2), nothing else.
"""

import json
from pathlib import Path

RELEASE_FILE = Path(__file__).resolve().parent.parent / "release.json"


def release() -> dict:
    """What this build is: written by build.py into the artifact (version, schema, settings)."""
    try:
        return json.loads(RELEASE_FILE.read_text())
    except FileNotFoundError:
        return {"version": "0.0.0-dev", "schema": 2, "settings": {}}
