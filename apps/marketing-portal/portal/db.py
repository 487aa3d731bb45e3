"""PostgreSQL access: settings from the environment, a small pool, and schema migrations."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 72_401  # pg_advisory_lock key: one migrating host at a time


def dsn(search_path: str | None = None) -> str:
    """libpq connection string from PORTAL_DB_* (unset keys fall back to libpq's defaults)."""
    parts = {
        "host": os.environ.get("PORTAL_DB_HOST"),
        "port": os.environ.get("PORTAL_DB_PORT"),
        "dbname": os.environ.get("PORTAL_DB_NAME", "marketing"),
        "user": os.environ.get("PORTAL_DB_USER", "marketing_portal"),
        "password": os.environ.get("PORTAL_DB_PASSWORD"),
        "sslmode": os.environ.get("PORTAL_DB_SSLMODE"),
        "sslrootcert": os.environ.get("PORTAL_DB_SSLROOTCERT"),
        "connect_timeout": os.environ.get("PORTAL_DB_CONNECT_TIMEOUT", "3"),
        "application_name": "marketing-portal",
    }
    if search_path:
        parts["options"] = f"-c search_path={search_path}"
    return " ".join(f"{k}='{_quote(v)}'" for k, v in parts.items() if v)


def _quote(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def migration_files(up_to: int) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        match = re.match(r"^(\d{3})_[a-z0-9_]+\.sql$", path.name)
        if not match:
            raise ValueError(f"migration file {path.name} is not named NNN_words.sql")
        number = int(match.group(1))
        if number <= up_to:
            found.append((number, path))
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"migrations must be numbered 1..N without gaps, found {numbers}")
    return found


def migrate(up_to: int) -> list[int]:
    """Apply the migrations up to schema `up_to` that the database lacks; return their numbers.

    Serialised by an advisory lock, each migration in its own transaction with its record in
    schema_migrations, so a second host or a second run applies nothing.
    """
    import psycopg2

    applied_now = []
    conn = psycopg2.connect(dsn("public"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            conn.commit()
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
            for number, path in migration_files(up_to):
                if number in done:
                    continue
                cur.execute(path.read_text())
                cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
                conn.commit()
                applied_now.append(number)
            cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
            conn.commit()
    finally:
        conn.close()
    return applied_now


class Pool:
    """A few connections shared by the request threads; a broken one is dropped and the
    query retried once on a new one (PostgreSQL restarted by a patch run, for example)."""

    def __init__(self, search_path: str, size: int = 8):
        self._search_path = search_path
        self._idle: list = []
        self._lock = threading.Lock()
        self._size = size

    def _connect(self):
        import psycopg2

        return psycopg2.connect(dsn(self._search_path))

    def run(self, fn, retries: int = 3):
        """Call fn(cursor) in a transaction and return its result.

        A pooled connection that broke while idle (PostgreSQL restarted since) is not a fault
        of the database now: it is dropped and the call made at once on a new connection,
        without using up a retry. So the first /healthz after a restart (retries=0) is true.
        """
        import psycopg2

        attempt = 0
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            pooled = conn is not None
            try:
                conn = conn or self._connect()
                with conn:
                    with conn.cursor() as cur:
                        result = fn(cur)
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                if conn is not None:
                    conn.close()
                if pooled:
                    continue
                if attempt == retries:
                    raise
                attempt += 1
                time.sleep(0.5 * attempt)
                continue
            except Exception:
                if conn is not None:
                    conn.close()
                raise
            with self._lock:
                if len(self._idle) < self._size:
                    self._idle.append(conn)
                    conn = None
            if conn is not None:
                conn.close()
            return result
