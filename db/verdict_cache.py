"""The verdict cache in the store (table verdict_cache), shared by every run against the same database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from db.models import VerdictCacheRow
from db.store import Store
from flywheel.lean.cache import UNCACHED
from flywheel.lean.verdicts import Verdict
from flywheel.records import VerdictStatus


class StoreCache:
    def __init__(self, store: Store):
        self.store = store

    def get(self, key: str) -> Verdict | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(VerdictCacheRow.__table__).where(VerdictCacheRow.key == key)).first()
        if row is None:
            return None
        return Verdict(VerdictStatus(row.verdict), row.reason, list(row.messages), list(row.axioms), row.time_s)

    def put(self, key: str, toolchain: str, verdict: Verdict) -> None:
        if verdict.status in UNCACHED:
            return
        values = dict(key=key, toolchain=toolchain, verdict=verdict.status.value, reason=verdict.reason,
                      messages=verdict.messages, axioms=verdict.axioms or [], time_s=verdict.time_s)
        with self.store.engine.begin() as conn:
            conn.execute(insert(VerdictCacheRow).values(**values).on_conflict_do_nothing())
