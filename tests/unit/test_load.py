"""pmops load against a small stand-in HTTP server: counting, versions, failures."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pmops.load import Load


class Portal(BaseHTTPRequestHandler):
    broken = False
    accounts = 0

    def log_message(self, *args):
        return

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Portal-Version", "9.9.9")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/accounts":
            type(self).accounts += 1
            self._send(201, {"id": type(self).accounts})
        else:
            self._send(503 if type(self).broken else 201, {"id": 1})

    def do_GET(self):
        self._send(200, {"version": "9.9.9"})


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    Portal.broken = False


def test_a_healthy_service_counts_no_failure(server):
    load = Load(server, workers=2).start()
    time.sleep(0.5)
    result = load.stop()
    assert result.sent > 8 and result.failed == 0
    assert result.versions == {"9.9.9": result.sent}
    assert len(result.accounts) == result.readings > 0
    assert "0 failed" in result.summary()


def test_a_wrong_status_is_a_failure_with_its_detail(server):
    Portal.broken = True
    load = Load(server, workers=1).start()
    time.sleep(0.3)
    result = load.stop()
    assert result.failed > 0 and result.readings == 0
    assert "POST /accounts/" in result.failures[0] and ": 503 " in result.failures[0]


def test_a_refused_connection_is_a_failure():
    load = Load("http://127.0.0.1:9", workers=1)
    ok, _ = load.request("GET", "/version")
    assert not ok and load.result.failed == 1
    assert "ConnectionRefusedError" in load.result.failures[0]
