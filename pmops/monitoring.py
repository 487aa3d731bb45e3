"""A small client of Prometheus' HTTP API (over TLS with basic auth), and the notifications the
lab's alert receiver writes as JSON lines. Used by the alert drills and by `pmops status`.

Layer: library (HTTP and parsing only: no Ansible, no command).
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


class MonitoringError(Exception):
    """Prometheus did not answer, or answered with an error."""


@dataclass
class Prometheus:
    url: str                # https://monitor-01:9090
    ca: str | None = None   # the CA of its certificate
    user: str = ""
    password: str = ""
    timeout: float = 10.0

    def get(self, path: str, **params) -> dict:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        request = urllib.request.Request(self.url.rstrip("/") + path + query)
        if self.user:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = ssl.create_default_context(cafile=self.ca) if self.url.startswith("https") else None
        try:
            with urllib.request.urlopen(request, context=context, timeout=self.timeout) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise MonitoringError(f"{self.url}{path}: HTTP {exc.code} {exc.reason}") from None
        except (OSError, ValueError) as exc:
            raise MonitoringError(f"{self.url}{path}: {exc}") from None
        if body.get("status") != "success":
            raise MonitoringError(f"{self.url}{path}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """An instant query: [{'metric': {...}, 'value': [time, 'text']}]."""
        return self.get("/api/v1/query", query=expr)["result"]

    def alerts(self) -> list[dict]:
        """Alerts pending or firing now: [{'labels': {...}, 'state': 'firing', ...}]."""
        return self.get("/api/v1/alerts")["alerts"]

    def targets(self) -> list[dict]:
        return self.get("/api/v1/targets", state="active")["activeTargets"]


def notifications(text: str) -> list[dict]:
    """The receiver's JSON lines as flat records, one per alert of each notification:
    {'received': epoch seconds, 'status': 'firing'|'resolved', 'labels': {...}, 'startsAt': ...}."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        for alert in entry["notification"].get("alerts", []):
            records.append({"received": entry["received"], "status": alert.get("status"),
                            "labels": alert.get("labels", {}), "startsAt": alert.get("startsAt"),
                            "endsAt": alert.get("endsAt")})
    return records


def matching(records: list[dict], since: float = 0.0, status: str | None = None, **labels: str) -> list[dict]:
    """The records received at or after since, of that status, whose labels include labels."""
    return [r for r in records
            if r["received"] >= since and (status is None or r["status"] == status)
            and all(r["labels"].get(k) == v for k, v in labels.items())]
