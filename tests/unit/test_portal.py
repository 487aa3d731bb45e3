"""The sample application's pure parts: the tiered tariff and its migrations' naming."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "apps" / "marketing-portal"))
from portal import billing, db  # noqa: E402


@pytest.mark.parametrize("kwh,total", [
    (0, "0.00"),
    (100, "48.83"),
    (230, "112.31"),                       # the whole first tier
    (231, "112.85"),                       # one kWh at the second price
    (400, "203.82"),                       # 230*0.4883 + 170*0.5383
    (500, "282.65"),                       # + 100*0.7883
    ("123.456", "60.28"),
])
def test_tiered_bill(kwh, total):
    assert billing.bill(kwh)["total"] == total


def test_bill_lines_add_up():
    result = billing.bill(500)
    assert [line["kwh"] for line in result["tiers"]] == ["230", "170", "100"]
    assert sum(Decimal(line["amount"]) for line in result["tiers"]) == Decimal(result["total"])


@pytest.mark.parametrize("tiers,error", [
    ((), "at least one tier"),
    ((billing.Tier(None, Decimal(1)), billing.Tier(None, Decimal(1))), "not the last"),
    ((billing.Tier(Decimal(10), Decimal(1)), billing.Tier(Decimal(5), Decimal(1)), billing.Tier(None, Decimal(1))),
     "must end above"),
    ((billing.Tier(Decimal(10), Decimal(-1)), billing.Tier(None, Decimal(1))), "negative"),
    ((billing.Tier(Decimal(10), Decimal(1)),), "no upper bound"),
])
def test_bad_tariffs_are_refused(tiers, error):
    with pytest.raises(ValueError, match=error):
        billing.bill(1, tiers)


def test_negative_consumption_is_refused():
    with pytest.raises(ValueError, match="negative"):
        billing.bill(-1)


def test_migrations_are_numbered_without_gaps():
    assert [n for n, _ in db.migration_files(99)] == [1, 2]
    assert [n for n, _ in db.migration_files(1)] == [1]


def test_dsn_quotes_and_search_path(monkeypatch):
    monkeypatch.setenv("PORTAL_DB_PASSWORD", "it's")
    monkeypatch.setenv("PORTAL_DB_HOST", "db-01")
    out = db.dsn("billing")
    assert "password='it\\'s'" in out and "options='-c search_path=billing'" in out and "host='db-01'" in out


class _FakePsycopg2:
    """Just enough of psycopg2 for Pool: connections whose queries fail while `broken`."""

    class OperationalError(Exception):
        pass

    class InterfaceError(Exception):
        pass

    def __init__(self):
        self.connects = 0
        self.up = True

    def connect(self, _dsn):
        if not self.up:
            raise self.OperationalError("connection refused")
        self.connects += 1
        module = self

        class Conn:
            broken = False

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def cursor(self):
                return self

            def execute(self, _sql):
                if self.broken:
                    raise module.OperationalError("terminating connection due to administrator command")

            def close(self):
                pass

        conn = Conn()
        module.last = conn
        return conn


@pytest.fixture
def fake_pg(monkeypatch):
    fake = _FakePsycopg2()
    monkeypatch.setitem(sys.modules, "psycopg2", fake)
    monkeypatch.setattr(db.time, "sleep", lambda _s: None)
    return fake


def test_a_pooled_connection_broken_by_a_restart_is_replaced_without_using_a_retry(fake_pg):
    pool = db.Pool("public")

    def query(cur):
        cur.execute("SELECT 1")
        return "ok"

    assert pool.run(query, retries=0) == "ok"
    fake_pg.last.broken = True  # PostgreSQL restarted: the idle pooled connection is dead
    assert pool.run(query, retries=0) == "ok"  # the first health check after it is still true
    assert fake_pg.connects == 2


def test_a_database_that_is_down_still_fails_the_call(fake_pg):
    pool = db.Pool("public")
    fake_pg.up = False
    with pytest.raises(fake_pg.OperationalError):
        pool.run(lambda cur: None, retries=1)


# ---------------------------------------------------------------- /metrics
class FakePool:
    """Stands in for the database: answers the health check, fails everything else."""

    def run(self, fn, retries=1):
        raise RuntimeError("connection refused")


@pytest.fixture
def portal():
    import http.client
    import threading
    from http.server import ThreadingHTTPServer

    from portal import web

    metrics = web.Metrics()
    server = ThreadingHTTPServer(("127.0.0.1", 0), web.make_handler({"version": "9.9.9", "schema": 2}, FakePool(), metrics))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def call(method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read().decode()
        conn.close()
        return resp.status, data

    yield call
    server.shutdown()


def test_metrics_have_bounded_labels_and_a_duration_histogram(portal):
    for path in ("/version", "/accounts/7/bill?period=2026-10", "/no/such/thing", "/no/other/thing"):
        portal("GET", path)
    assert portal("POST", "/accounts/7/readings", '{"period": "October", "kwh": 1}')[0] == 400
    assert portal("POST", "/accounts/7/readings", '{"period": "2026-10", "kwh": -3}')[0] == 400
    assert portal("POST", "/version")[0] == 405
    status, text = portal("GET", "/metrics")
    assert status == 200
    lines = text.splitlines()
    assert 'portal_http_requests_total{code="200",handler="version"} 1' in lines
    assert 'portal_http_requests_total{code="503",handler="bill"} 1' in lines
    assert 'portal_http_requests_total{code="404",handler="other"} 2' in lines  # any unknown path: one label
    assert 'portal_http_requests_total{code="405",handler="version"} 1' in lines
    assert 'portal_meter_readings_rejected_total{reason="period"} 1' in lines
    assert 'portal_meter_readings_rejected_total{reason="kwh"} 1' in lines
    assert "portal_db_errors_total 1" in lines
    assert 'portal_http_request_duration_seconds_bucket{handler="version",le="+Inf"} 2' in lines
    assert 'portal_http_request_duration_seconds_count{handler="other"} 2' in lines
    handlers = {m for m in __import__("re").findall(r'handler="([^"]+)"', text)}
    assert handlers <= {"healthz", "version", "metrics", "stats", "accounts", "readings", "bill", "other"}


def test_metrics_pass_promtool_check_metrics(portal):
    import shutil
    import subprocess
    portal("GET", "/version")
    portal("GET", "/accounts/1/bill?period=2026-10")
    _, text = portal("GET", "/metrics")
    tools = Path(__file__).resolve().parents[2] / ".cache" / "tools" / "bin"
    promtool = shutil.which("promtool", path=str(tools)) or shutil.which("promtool")
    assert promtool, "promtool not found: run `make setup`"
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
