"""The one bulk path for proof attempts: a whole batch in a few round trips (psycopg2 execute_values),
idempotent on attempt_key. Every stage that writes attempts goes through write_attempts."""

from __future__ import annotations

import json
from typing import Sequence

from sqlalchemy.orm import Session

from flywheel.records import ProofAttempt

COLUMNS = ("attempt_key", "statement_id", "side", "round", "model", "sampling", "proof", "code_sha256",
           "verdict", "reason", "messages", "time_s", "cached")
_SQL = (f"INSERT INTO proof_attempts ({', '.join(COLUMNS)}) VALUES %s "
        "ON CONFLICT (attempt_key) DO NOTHING RETURNING 1")
_TEMPLATE = "(%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s::jsonb, %s, %s)"


def _row(a: ProofAttempt) -> tuple:
    return (a.id, a.statement_id, a.side.value, a.round, a.model, json.dumps(a.sampling, sort_keys=True), a.proof,
            a.code_sha256, a.verdict.value, a.reason, json.dumps(a.messages), float(a.time_s), bool(a.cached))


def write_attempts(session: Session, attempts: Sequence[ProofAttempt], page_size: int = 5000) -> int:
    """Insert in the session's transaction; returns how many were new (a replayed attempt is skipped)."""
    if not attempts:
        return 0
    from psycopg2.extras import execute_values

    dbapi = session.connection().connection.dbapi_connection
    with dbapi.cursor() as cur:
        rows = execute_values(cur, _SQL, [_row(a) for a in attempts], template=_TEMPLATE, page_size=page_size,
                              fetch=True)
    return len(rows)
