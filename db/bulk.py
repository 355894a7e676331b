"""The one bulk path for proof attempts: COPY, idempotent on attempt_key. Every stage that writes attempts
goes through write_attempts."""

from __future__ import annotations

import io
import json
import re
from typing import Iterable, Iterator

from sqlalchemy.orm import Session

from flywheel.errors import StoreError
from flywheel.records import ProofAttempt

COLUMNS = ("attempt_key", "statement_id", "side", "round", "model", "sampling", "proof", "code_sha256",
           "verdict", "reason", "messages", "time_s", "cached")
_COLS = ", ".join(COLUMNS)
_STAGE = "flywheel_attempts_stage"
# A reused encoder: json.dumps(..., sort_keys=True) builds a new one per call, a third of the row cost.
_json = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _text(value: str | None) -> str:
    """A field of COPY's text format: \\N is NULL, and backslash, tab and line breaks are escaped."""
    if value is None:
        return "\\N"
    if _SPECIAL.search(value) is None:
        return value
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], value)


def copy_line(a: ProofAttempt) -> str:
    """One attempt as one line of COPY text, columns in the order of COLUMNS."""
    return "\t".join((
        _text(a.id), _text(a.statement_id), a.side.value, str(int(a.round)), _text(a.model),
        _text(_json(a.sampling)), _text(a.proof), _text(a.code_sha256), a.verdict.value, _text(a.reason),
        _text(_json(a.messages)) if a.messages else "[]", repr(float(a.time_s)), "t" if a.cached else "f",
    )) + "\n"


class _Lines(io.TextIOBase):
    """A file over lines made on demand, so Python formats the next rows while the server stores these."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self._rest = ""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        parts, n = [self._rest], len(self._rest)
        for line in self._lines:
            parts.append(line)
            n += len(line)
            if size is not None and 0 <= size <= n:
                break
        data = "".join(parts)
        if size is None or size < 0:
            self._rest = ""
            return data
        self._rest = data[size:]
        return data[:size]


def _unique(attempts: Iterable[ProofAttempt]) -> list[ProofAttempt]:
    seen: dict[str, ProofAttempt] = {}
    for a in attempts:
        seen.setdefault(a.id, a)  # the same attempt twice in one batch is stored once
    return list(seen.values())


def _copy(cur, table: str, attempts: list[ProofAttempt]) -> None:
    cur.copy_expert(f"COPY {table} ({_COLS}) FROM STDIN", _Lines(map(copy_line, attempts)), size=1 << 16)


def _insert_new(cur, attempts: list[ProofAttempt]) -> int:
    """The slower path for a batch that holds stored attempts: stage it, then insert what is not there."""
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DROP AS "
                f"SELECT {_COLS} FROM proof_attempts WITH NO DATA")
    cur.execute(f"TRUNCATE {_STAGE}")
    _copy(cur, _STAGE, attempts)
    cur.execute(f"INSERT INTO proof_attempts ({_COLS}) SELECT {_COLS} FROM {_STAGE} "
                "ON CONFLICT (attempt_key) DO NOTHING")
    return cur.rowcount


SMALL = 200  # up to this many rows, one INSERT round trip beats SAVEPOINT + COPY + RELEASE
_VALUES = f"INSERT INTO proof_attempts ({_COLS}) VALUES %s ON CONFLICT (attempt_key) DO NOTHING"
_ROW = "(%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s::jsonb, %s, %s)"


def _insert_small(cur, attempts: list[ProofAttempt]) -> int:
    """A prover loop's unit (a few attempts): one statement, replays skipped by ON CONFLICT."""
    import psycopg2
    from psycopg2.extras import execute_values

    rows = [(a.id, a.statement_id, a.side.value, int(a.round), a.model, _json(a.sampling), a.proof, a.code_sha256,
             a.verdict.value, a.reason, _json(a.messages) if a.messages else "[]", float(a.time_s), bool(a.cached))
            for a in attempts]
    try:
        execute_values(cur, _VALUES, rows, template=_ROW, page_size=SMALL)
    except psycopg2.errors.ForeignKeyViolation as e:
        raise StoreError(f"attempts name a statement that is not stored: {(e.pgerror or str(e)).strip()}") from e
    except psycopg2.Error as e:
        raise StoreError(f"writing {len(attempts)} attempts failed: {(e.pgerror or str(e)).strip()}") from e
    return cur.rowcount


def write_attempts(session: Session, attempts: Iterable[ProofAttempt]) -> int:
    """Store attempts in the session's transaction; returns how many were new (a replayed one is skipped).

    A few attempts (a prover unit) go in one INSERT ... ON CONFLICT DO NOTHING. Larger batches go straight
    into the table by COPY; only when that meets an attempt already stored (a replayed round, a concurrent
    writer) is the batch redone through ON CONFLICT."""
    import psycopg2

    batch = _unique(attempts)
    if not batch:
        return 0
    dbapi = session.connection().connection.dbapi_connection
    with dbapi.cursor() as cur:
        if len(batch) <= SMALL:
            return _insert_small(cur, batch)
        cur.execute("SAVEPOINT flywheel_bulk")
        try:
            try:
                _copy(cur, "proof_attempts", batch)
                new = len(batch)
            except psycopg2.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT flywheel_bulk")
                new = _insert_new(cur, batch)
        except psycopg2.errors.ForeignKeyViolation as e:
            cur.execute("ROLLBACK TO SAVEPOINT flywheel_bulk")
            raise StoreError(f"attempts name a statement that is not stored: {(e.pgerror or str(e)).strip()}") from e
        except psycopg2.Error as e:
            cur.execute("ROLLBACK TO SAVEPOINT flywheel_bulk")
            raise StoreError(f"writing {len(batch)} attempts failed: {(e.pgerror or str(e)).strip()}") from e
        cur.execute("RELEASE SAVEPOINT flywheel_bulk")
    return new
