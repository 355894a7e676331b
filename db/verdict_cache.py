"""The verdict cache in the store (table verdict_cache), shared by every run against the same database.

A lookup sits on the path of every check, so it is one round trip: the cache keeps its own autocommit
connection (no BEGIN/ROLLBACK around each SELECT, no ORM), shared by the checking threads under a lock.
New verdicts are written in batches (every `flush_every` verdicts or `flush_s` seconds, and when the
verifier closes); until then lookups find them in memory. A crash loses at most those pending entries,
which are cache, not results: the attempts themselves are stored by the prover loop."""

from __future__ import annotations

import json
import logging
import threading
import time

from db.store import Store
from flywheel.errors import StoreError
from flywheel.lean.guard.cache import cacheable
from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import VerdictStatus
from flywheel.text import storable, storable_json

log = logging.getLogger(__name__)
_GET = "SELECT verdict, reason, messages, axioms, time_s FROM verdict_cache WHERE key = %s"
_PUT = ("INSERT INTO verdict_cache (key, toolchain, verdict, reason, messages, axioms, time_s) VALUES %s "
        "ON CONFLICT (key) DO NOTHING")
_ROW = "(%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)"


class StoreCache:
    def __init__(self, store: Store, flush_every: int = 64, flush_s: float = 1.0):
        self.store = store
        self._lock = threading.Lock()
        self._conn = None
        self._pending: dict[str, tuple] = {}
        self._flushed_at = time.monotonic()
        self.flush_every, self.flush_s = flush_every, flush_s

    def _connect(self):
        engine = self.store.engine
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        conn = engine.dialect.dbapi.connect(*cargs, **cparams)
        conn.autocommit = True
        return conn

    def _execute(self, sql: str, params) -> tuple | None:
        """Run one statement under the lock (reconnecting once if the server dropped the connection);
        the first row. params is a tuple, or a list of row tuples for _PUT."""
        import psycopg2
        from psycopg2.extras import execute_values

        for attempt in range(2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                with self._conn.cursor() as cur:
                    if isinstance(params, list):
                        execute_values(cur, sql, params, template=_ROW, page_size=1000)
                        return None
                    cur.execute(sql, params)
                    return cur.fetchone() if cur.description else None
            except psycopg2.OperationalError as e:
                self.close_connection()
                if attempt == 1:
                    raise StoreError(f"verdict cache: the database ({self.store.describe()}) is not answering: "
                                     f"{str(e).strip().splitlines()[0]}") from e
        return None

    def get(self, key: str) -> Verdict | None:
        with self._lock:
            row = self._pending.get(key)
            if row is None:
                row = self._execute(_GET, (key,))
            else:
                row = row[2:]
        if row is None:
            return None
        verdict, reason, messages, axioms, time_s = row
        if isinstance(messages, str):  # a pending row holds JSON text
            messages, axioms = json.loads(messages), json.loads(axioms)
        return Verdict(VerdictStatus(verdict), reason, list(messages or []), list(axioms or []), time_s)

    def put(self, key: str, toolchain: str, verdict: Verdict) -> None:
        if not cacheable(verdict):
            return
        with self._lock:
            # Lean's messages may quote what the code holds (a string with NUL): stored escaped, never refused.
            self._pending[key] = (key, toolchain, verdict.status.value, storable(verdict.reason),
                                  storable_json(verdict.messages), storable_json(verdict.axioms or []), verdict.time_s)
            if len(self._pending) >= self.flush_every or time.monotonic() - self._flushed_at >= self.flush_s:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending:
            self._execute(_PUT, list(self._pending.values()))
            self._pending.clear()
        self._flushed_at = time.monotonic()

    def close_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already gone
                pass
            self._conn = None

    def close(self) -> None:
        """Write what is pending, then let the connection go. A server gone by then loses only those verdicts
        (cache, not results), so that is said and not raised: the error that stopped the work is the one to see."""
        try:
            self.flush()
        except StoreError as e:
            log.warning("%s; %d verdicts not cached", e, len(self._pending))
        finally:
            self.close_connection()

    def __del__(self) -> None:
        self.close_connection()
