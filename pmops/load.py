"""A bounded, steady load on the marketing portal through the web tier.

Each worker repeats a customer's visit: create an account, post a meter reading, ask for
the bill, read /version. Every request is a new HTTPS connection (so a proxy reload never
meets a stale keep-alive connection the client would have to retry), and a request counts
as failed on any transport error or any status other than the one expected. Used by the
deploy, rollback and patch drills and by `pmops load`.

Layer: library (HTTP only: no Ansible, no command).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    versions: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)
    accounts: list = field(default_factory=list)
    readings: int = 0

    def summary(self) -> str:
        versions = ", ".join(f"{v}: {n}" for v, n in sorted(self.versions.items()))
        return (f"{self.sent} requests in {self.seconds:.1f} s, {self.failed} failed; "
                f"answered by release {versions or '-'}")


class Load:
    def __init__(self, url: str, ca: str | None = None, workers: int = 2, pause: float = 0.0):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = parts.scheme == "https"
        self.context = ssl.create_default_context(cafile=ca) if self.tls else None
        self.workers, self.pause = workers, pause
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def request(self, method: str, path: str, body: dict | None = None, expect: int = 200):
        conn_cls = http.client.HTTPSConnection if self.tls else http.client.HTTPConnection
        kwargs = {"context": self.context} if self.tls else {}
        conn = conn_cls(self.host, self.port, timeout=15, **kwargs)
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", "Connection": "close"})
            resp = conn.getresponse()
            payload = resp.read()
            version = resp.getheader("X-Portal-Version") or "?"
            ok = resp.status == expect
            detail = f"{method} {path}: {resp.status} {payload[:200]!r}"
        except (OSError, http.client.HTTPException) as exc:
            ok, version, payload, detail = False, None, b"", f"{method} {path}: {type(exc).__name__}: {exc}"
        finally:
            conn.close()
        with self._lock:
            self.result.sent += 1
            if version:
                self.result.versions[version] += 1
            if not ok:
                self.result.failed += 1
                if len(self.result.failures) < 20:
                    self.result.failures.append(f"{time.strftime('%H:%M:%S')} {detail}")
        return ok, (json.loads(payload) if ok and payload else None)

    def _visit(self, n: int) -> None:
        ok, account = self.request("POST", "/accounts", {"name": f"Load customer {n}", "address": f"{n} Grid Road"}, 201)
        if not ok:
            return
        with self._lock:
            self.result.accounts.append(account["id"])
        ok, _ = self.request("POST", f"/accounts/{account['id']}/readings", {"period": "2026-10", "kwh": 100 + n % 400}, 201)
        if ok:
            with self._lock:
                self.result.readings += 1
            self.request("GET", f"/accounts/{account['id']}/bill?period=2026-10")
        self.request("GET", "/version")

    def _worker(self, index: int) -> None:
        n = index
        while not self._stop.is_set():
            self._visit(n)
            n += self.workers
            if self.pause:
                time.sleep(self.pause)

    def start(self) -> "Load":
        self._started = time.monotonic()
        for i in range(self.workers):
            thread = threading.Thread(target=self._worker, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.result.seconds = time.monotonic() - self._started
        return self.result


def run(url: str, seconds: float, ca: str | None, workers: int) -> int:
    load = Load(url, ca, workers).start()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            print(f"pmops load: {load.result.sent} sent, {load.result.failed} failed", flush=True)
    except KeyboardInterrupt:
        pass
    result = load.stop()
    print(f"pmops load: {result.summary()}")
    for line in result.failures:
        print(f"  failed: {line}")
    return 1 if result.failed else 0
