"""The verdict cache in the store (table verdict_cache), shared by every run against the same database.

A lookup sits on the path of every check, so it is one round trip: the cache keeps its own autocommit
connection (no BEGIN/ROLLBACK around each SELECT, no ORM), shared by the checking threads under a lock."""

from __future__ import annotations

import json
import threading

from db.store import Store
from flywheel.errors import StoreError
from flywheel.lean.cache import UNCACHED
from flywheel.lean.verdicts import Verdict
from flywheel.records import VerdictStatus

_GET = "SELECT verdict, reason, messages, axioms, time_s FROM verdict_cache WHERE key = %s"
_PUT = ("INSERT INTO verdict_cache (key, toolchain, verdict, reason, messages, axioms, time_s) "
        "VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s) ON CONFLICT (key) DO NOTHING")


class StoreCache:
    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._conn = None

    def _connect(self):
        engine = self.store.engine
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        conn = engine.dialect.dbapi.connect(*cargs, **cparams)
        conn.autocommit = True
        return conn

    def _execute(self, sql: str, params: tuple) -> tuple | None:
        """Run one statement (reconnecting once if the server dropped the connection); the first row."""
        import psycopg2

        with self._lock:
            for attempt in range(2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = self._connect()
                    with self._conn.cursor() as cur:
                        cur.execute(sql, params)
                        return cur.fetchone() if cur.description else None
                except psycopg2.OperationalError as e:
                    self.close_connection()
                    if attempt == 1:
                        raise StoreError(f"verdict cache: the database is not answering: {str(e).strip()}") from e
        return None

    def get(self, key: str) -> Verdict | None:
        row = self._execute(_GET, (key,))
        if row is None:
            return None
        verdict, reason, messages, axioms, time_s = row
        return Verdict(VerdictStatus(verdict), reason, list(messages or []), list(axioms or []), time_s)

    def put(self, key: str, toolchain: str, verdict: Verdict) -> None:
        if verdict.status in UNCACHED:
            return
        self._execute(_PUT, (key, toolchain, verdict.status.value, verdict.reason, json.dumps(verdict.messages),
                             json.dumps(verdict.axioms or []), verdict.time_s))

    def close_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already gone
                pass
            self._conn = None

    def __del__(self) -> None:
        self.close_connection()
