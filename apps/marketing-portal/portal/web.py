"""The HTTP service: a threading server from the standard library, JSON in and out."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import billing
from .db import Pool

PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


class Metrics:
    """Prometheus text format, by hand (the runtime is Debian's Python alone). Labels are bounded:
    `handler` is the route's name (or "other" for a path no route knows), `code` the status,
    `reason` one of the reasons a reading is refused."""

    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
    HELP = {
        "portal_http_requests_total": "HTTP requests by handler and status code.",
        "portal_meter_readings_total": "Meter readings ingested.",
        "portal_meter_readings_rejected_total": "Meter readings refused, by reason.",
        "portal_bills_computed_total": "Bills computed.",
        "portal_db_errors_total": "Requests that failed on the database.",
    }

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, tuple], int] = {}
        self.durations: dict[str, list] = {}  # handler -> [bucket counts..., sum, count]

    def add(self, name: str, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def observe(self, handler: str, seconds: float) -> None:
        with self._lock:
            row = self.durations.setdefault(handler, [0] * (len(self.BUCKETS) + 2))
            for i, bound in enumerate(self.BUCKETS):
                if seconds <= bound:
                    row[i] += 1
            row[-2] += seconds
            row[-1] += 1

    @staticmethod
    def _labels(pairs) -> str:
        return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}" if pairs else ""

    def render(self, release: dict) -> str:
        lines = [
            "# HELP portal_info The running release.",
            "# TYPE portal_info gauge",
            f'portal_info{{version="{release["version"]}",schema="{release["schema"]}"}} 1',
        ]
        with self._lock:
            counts, durations = dict(self.counts), {h: list(r) for h, r in self.durations.items()}
        for name, text in self.HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            series = {labels: n for (metric, labels), n in counts.items() if metric == name}
            if not series and name in ("portal_meter_readings_total", "portal_bills_computed_total", "portal_db_errors_total"):
                series = {(): 0}
            for labels, n in sorted(series.items()):
                lines.append(f"{name}{self._labels(labels)} {n}")
        name = "portal_http_request_duration_seconds"
        lines += [f"# HELP {name} Time to answer a request, by handler.", f"# TYPE {name} histogram"]
        for handler, row in sorted(durations.items()):
            for bound, n in zip(self.BUCKETS, row):
                lines.append(f'{name}_bucket{{handler="{handler}",le="{bound}"}} {n}')
            lines.append(f'{name}_bucket{{handler="{handler}",le="+Inf"}} {row[-1]}')
            lines.append(f'{name}_sum{{handler="{handler}"}} {row[-2]:.6f}')
            lines.append(f'{name}_count{{handler="{handler}"}} {row[-1]}')
        return "\n".join(lines) + "\n"


class ClientError(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def make_handler(release: dict, pool: Pool, metrics: Metrics):
    schema = int(release["schema"])

    class Handler(BaseHTTPRequestHandler):
        server_version = "marketing-portal"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        timeout = 10  # an idle keep-alive connection does not hold up a stop for long

        def log_message(self, fmt, *args):  # the journal gets one line per error, not per request
            return

        def _send(self, status: HTTPStatus, body, content_type="application/json"):
            data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Portal-Version", release["version"])
            self.end_headers()
            self.wfile.write(data)
            metrics.add("portal_http_requests_total", handler=self.handler_name, code=str(int(status)))
            metrics.observe(self.handler_name, time.monotonic() - self.started)

        def _json_body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            if length > 65536:
                raise ClientError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body larger than 64 KiB")
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError as exc:
                raise ClientError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from None
            if not isinstance(body, dict):
                raise ClientError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
            return body

        def _dispatch(self, method: str):
            self.started = time.monotonic()
            self.handler_name = "other"
            path, _, query = self.path.partition("?")
            routes = [  # (method, path, handler label, function)
                ("GET", r"/healthz", "healthz", self.healthz),
                ("GET", r"/version", "version", lambda: (HTTPStatus.OK, release)),
                ("GET", r"/metrics", "metrics", self.metrics),
                ("GET", r"/stats", "stats", self.stats),
                ("POST", r"/accounts", "accounts", self.create_account),
                ("POST", r"/accounts/(\d+)/readings", "readings", self.add_reading),
                ("GET", r"/accounts/(\d+)/bill", "bill", lambda account: self.get_bill(account, query)),
            ]
            try:
                for verb, pattern, label, fn in routes:
                    match = re.fullmatch(pattern, path)
                    if match:
                        self.handler_name = label
                    if match and verb == method:
                        status, body = fn(*match.groups())
                        break
                    if match:
                        raise ClientError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} not allowed on {path}")
                else:
                    raise ClientError(HTTPStatus.NOT_FOUND, f"no such resource: {path}")
            except ClientError as exc:
                status, body = exc.status, {"error": str(exc)}
            except Exception as exc:  # a database fault answers 503 and is counted, never a traceback
                metrics.add("portal_db_errors_total")
                self.log_error("%s %s failed: %s", method, path, exc)
                status, body = HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"database: {exc}".strip()}
            if isinstance(body, str):
                self._send(status, body.encode(), "text/plain; version=0.0.4")
            else:
                self._send(status, body)

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        # ------------------------------------------------------------------ handlers
        def healthz(self):
            def check(cur):
                cur.execute("SELECT max(version) FROM public.schema_migrations")
                applied = cur.fetchone()[0] or 0
                cur.execute("SELECT count(*) FROM accounts")
                return applied

            try:
                applied = pool.run(check, retries=0)
            except Exception as exc:  # the health check reports the fault instead of raising
                return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "fail", "check": "database",
                                                        "error": str(exc).strip(), "version": release["version"]}
            if applied < schema:
                return HTTPStatus.SERVICE_UNAVAILABLE, {
                    "status": "fail", "check": "schema", "version": release["version"],
                    "error": f"database schema {applied} is older than this release's {schema}"}
            return HTTPStatus.OK, {"status": "ok", "version": release["version"], "schema": applied}

        def metrics(self):
            return HTTPStatus.OK, metrics.render(release)

        def stats(self):
            def count(cur):
                cur.execute("SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM meter_readings)")
                return cur.fetchone()

            accounts, readings = pool.run(count)
            return HTTPStatus.OK, {"accounts": accounts, "meter_readings": readings}

        def create_account(self):
            body = self._json_body()
            name, address = body.get("name"), body.get("address")
            for key, value, limit in (("name", name, 200), ("address", address, 500)):
                if not isinstance(value, str) or not 1 <= len(value) <= limit:
                    raise ClientError(HTTPStatus.BAD_REQUEST, f"{key} must be text of 1 to {limit} characters")

            def insert(cur):
                cur.execute("INSERT INTO accounts (name, address) VALUES (%s, %s) RETURNING id", (name, address))
                return cur.fetchone()[0]

            return HTTPStatus.CREATED, {"id": pool.run(insert), "name": name}

        def add_reading(self, account):
            body = self._json_body()
            period, kwh = body.get("period"), body.get("kwh")
            if not isinstance(period, str) or not PERIOD.match(period):
                metrics.add("portal_meter_readings_rejected_total", reason="period")
                raise ClientError(HTTPStatus.BAD_REQUEST, "period must look like 2026-10")
            try:
                kwh = Decimal(str(kwh))
            except ArithmeticError:
                metrics.add("portal_meter_readings_rejected_total", reason="kwh")
                raise ClientError(HTTPStatus.BAD_REQUEST, "kwh must be a number") from None
            if not kwh.is_finite() or kwh < 0 or kwh > 10**8:
                metrics.add("portal_meter_readings_rejected_total", reason="kwh")
                raise ClientError(HTTPStatus.BAD_REQUEST, "kwh must be a number from 0 to 100000000")

            def insert(cur):
                cur.execute("SELECT 1 FROM accounts WHERE id = %s", (int(account),))
                if cur.fetchone() is None:
                    return None
                cur.execute("INSERT INTO meter_readings (account_id, period, kwh) VALUES (%s, %s, %s)"
                            " ON CONFLICT (account_id, period) DO UPDATE SET kwh = EXCLUDED.kwh, read_at = now()"
                            " RETURNING id", (int(account), period, kwh))
                return cur.fetchone()[0]

            reading = pool.run(insert)
            if reading is None:
                metrics.add("portal_meter_readings_rejected_total", reason="account")
                raise ClientError(HTTPStatus.NOT_FOUND, f"no account {account}")
            metrics.add("portal_meter_readings_total")
            return HTTPStatus.CREATED, {"id": reading, "account": int(account), "period": period, "kwh": str(kwh)}

        def get_bill(self, account, query):
            period = dict(p.partition("=")[::2] for p in query.split("&") if p).get("period", "")
            if not PERIOD.match(period):
                raise ClientError(HTTPStatus.BAD_REQUEST, "?period=YYYY-MM is required")

            def compute(cur):
                cur.execute("SELECT kwh FROM meter_readings WHERE account_id = %s AND period = %s",
                            (int(account), period))
                row = cur.fetchone()
                if row is None:
                    return None
                result = billing.bill(row[0])
                if schema >= 2:
                    cur.execute("INSERT INTO bills (account_id, period, kwh, total) VALUES (%s, %s, %s, %s)",
                                (int(account), period, row[0], result["total"]))
                return result

            result = pool.run(compute)
            if result is None:
                raise ClientError(HTTPStatus.NOT_FOUND, f"no reading for account {account} in {period}")
            metrics.add("portal_bills_computed_total")
            return HTTPStatus.OK, dict(result, account=int(account), period=period, currency="CNY")

    return Handler


def serve(release: dict, listen: str) -> None:
    host, _, port = listen.rpartition(":")
    settings = release.get("settings", {})
    pool = Pool(settings.get("search_path", "public"))
    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), make_handler(release, pool, Metrics()))
    server.daemon_threads = False  # let requests in flight finish on SIGTERM

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"marketing-portal {release['version']} (schema {release['schema']}) listening on {listen}", flush=True)
    server.serve_forever()
    server.server_close()
