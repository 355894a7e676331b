"""The one bulk path for proof attempts, idempotent on attempt_key: one INSERT for a prover unit's few
attempts, COPY for large batches. Every stage that writes attempts goes through write_attempts."""

from __future__ import annotations

import io
import re
from typing import Iterable, Iterator

from sqlalchemy.orm import Session

from flywheel.errors import StoreError
from flywheel.records import ProofAttempt
from flywheel.text import storable, storable_json

COLUMNS = ("attempt_key", "statement_id", "side", "round", "model", "sampling", "proof", "code_sha256",
           "verdict", "reason", "messages", "time_s", "cached", "source", "checkpoint_id",
           "strategy", "turn", "tokens", "search")
_COLS = ", ".join(COLUMNS)
_STAGE = "flywheel_attempts_stage"
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _text(value: str | None) -> str:
    """A field of COPY's text format: \\N is NULL, and backslash, tab and line breaks are escaped."""
    if value is None:
        return "\\N"
    if _SPECIAL.search(value) is None:
        return value
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], value)


def row(a: ProofAttempt) -> tuple:
    """One attempt's values, in the order of COLUMNS (JSON columns as JSON text), every text storable: a
    proof holding NUL was refused by the guard before Lean, and is kept escaped as the model wrote it."""
    return (a.id, a.statement_id, a.side.value, int(a.round), storable(a.model), storable_json(a.sampling),
            storable(a.proof), a.code_sha256, a.verdict.value, storable(a.reason),
            storable_json(a.messages) if a.messages else "[]", float(a.time_s), bool(a.cached), a.source,
            a.checkpoint_id, storable(a.strategy), int(a.turn), int(a.tokens),
            None if a.search is None else storable_json(a.search))


def _field(value) -> str:
    if isinstance(value, bool):  # before int: a bool is an int
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return _text(value)


def copy_line(a: ProofAttempt) -> str:
    """One attempt as one line of COPY text."""
    return "\t".join(map(_field, row(a))) + "\n"


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
_ROW = "(%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"


def _insert_small(cur, attempts: list[ProofAttempt]) -> int:
    """A prover loop's unit (a few attempts): one statement, replays skipped by ON CONFLICT."""
    from psycopg2.extras import execute_values

    execute_values(cur, _VALUES, [row(a) for a in attempts], template=_ROW, page_size=SMALL)
    return cur.rowcount


def _copy_new(cur, attempts: list[ProofAttempt]) -> int:
    """COPY straight into the table; if that meets a stored attempt, redo the batch through the stage."""
    import psycopg2

    cur.execute("SAVEPOINT flywheel_copy")
    try:
        _copy(cur, "proof_attempts", attempts)
        new = len(attempts)
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT flywheel_copy")
        new = _insert_new(cur, attempts)
    cur.execute("RELEASE SAVEPOINT flywheel_copy")
    return new


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
        # On failure the error names the batch; the caller's transaction (Store.session) is rolled back whole.
        try:
            new = _insert_small(cur, batch) if len(batch) <= SMALL else _copy_new(cur, batch)
        except psycopg2.errors.ForeignKeyViolation as e:
            raise StoreError(f"attempts name a statement that is not stored: {(e.pgerror or str(e)).strip()}") from e
        except psycopg2.Error as e:
            raise StoreError(f"writing {len(batch)} attempts failed: {(e.pgerror or str(e)).strip()}") from e
        _link_parents(cur, [a for a in batch if a.parent])
    return new


_PARENTS = """
UPDATE proof_attempts AS c SET parent_id = p.id
FROM (VALUES %s) AS v (attempt_key, parent_key) JOIN proof_attempts p ON p.attempt_key = v.parent_key
WHERE c.attempt_key = v.attempt_key AND c.parent_id IS NULL
"""


def _link_parents(cur, revisions: list[ProofAttempt]) -> None:
    """A revision points at the attempt it revises by id, found by key: stored before it, or in this batch."""
    if revisions:
        from psycopg2.extras import execute_values

        execute_values(cur, _PARENTS, [(a.id, a.parent) for a in revisions], page_size=SMALL)
