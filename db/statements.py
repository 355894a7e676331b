"""Store side of the statement stages: pending problems, statements in and out, filter decisions."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import ProblemRow, StatementRow
from flywheel.records import DropReason, Problem, Statement, StatementStatus
from flywheel.text import refused_character, storable

EXTRACTION_REASONS = (DropReason.NO_CODE, DropReason.NO_THEOREM, DropReason.SEVERAL_THEOREMS, DropReason.UNPARSABLE)


def to_problem(row: ProblemRow) -> Problem:
    return Problem(row.id, row.source, row.external_id, row.informal, row.answer, dict(row.meta or {}))


def to_statement(row: StatementRow) -> Statement:
    return Statement(
        id=row.id, problem_id=row.problem_id, round=row.round, header=row.header, text=row.text, name=row.name,
        normalized_sha256=row.normalized_sha256, origin_model=row.origin_model, sample_index=row.sample_index,
        status=StatementStatus(row.status), drop_reason=DropReason(row.drop_reason) if row.drop_reason else None,
        drop_detail=row.drop_detail, grade=row.grade, grade_rationale=row.grade_rationale, preamble=row.preamble,
        formal=row.formal,
    )


def _pending(round_: int, source: str | None):
    # a problem ingested formal has its statement already, whatever round it was stored for
    has = exists().where(and_(StatementRow.problem_id == ProblemRow.id,
                              (StatementRow.round <= round_) | StatementRow.formal))
    q = select(ProblemRow).where(~has)
    return q.where(ProblemRow.source == source) if source else q


def pending_problems(session: Session, round_: int, limit: int | None = None, source: str | None = None) -> list[Problem]:
    """Problems never formalized (no statement in any round up to this one), in a stable order. A problem is
    formalized once; later rounds take newly ingested problems and prove the open statements again."""
    q = _pending(round_, source).order_by(ProblemRow.source, ProblemRow.external_id, ProblemRow.id)
    if limit is not None:
        q = q.limit(limit)
    return [to_problem(r) for r in session.scalars(q)]


def count_pending_problems(session: Session, round_: int, source: str | None = None) -> int:
    return session.scalar(select(func.count()).select_from(_pending(round_, source).subquery()))


def problems_by_id(session: Session, ids: Sequence[str]) -> dict[str, Problem]:
    rows = session.scalars(select(ProblemRow).where(ProblemRow.id.in_(list(set(ids)))))
    return {r.id: to_problem(r) for r in rows}


def insert_statements(session: Session, statements: Sequence[Statement]) -> int:
    """Insert; a statement already stored (same id) is left as it is. Returns how many were new."""
    if not statements:
        return 0
    rows = [_row(s) for s in statements]
    new = 0
    for i in range(0, len(rows), 1000):
        result = session.execute(insert(StatementRow).values(rows[i : i + 1000]).on_conflict_do_nothing().returning(StatementRow.id))
        new += len(result.all())
    return new


def _row(s: Statement) -> dict:
    """The statement's columns, every text made storable. A statement still to be judged whose Lean text
    had to be escaped is dropped here: the escaped text is not what the model wrote (the stage drops such
    statements first; this is the store's own guard)."""
    status, reason, detail = s.status.value, s.drop_reason.value if s.drop_reason else None, s.drop_detail
    bad = refused_character(s.text) or refused_character(s.preamble)
    if bad and s.status in (StatementStatus.CANDIDATE, StatementStatus.KEPT):
        status, reason = StatementStatus.DROPPED.value, DropReason.UNPARSABLE.value
        detail = f"the statement holds {bad}, which Lean source may not"
    return dict(
        id=s.id, problem_id=s.problem_id, round=s.round, header=storable(s.header), text=storable(s.text),
        name=storable(s.name), normalized_sha256=s.normalized_sha256, origin_model=storable(s.origin_model),
        sample_index=s.sample_index, status=status, drop_reason=reason, drop_detail=storable(detail),
        grade=storable(s.grade), grade_rationale=storable(s.grade_rationale), preamble=storable(s.preamble),
        formal=s.formal,
    )


def statements_with_status(session: Session, round_: int, status: StatementStatus, limit: int | None = None) -> list[Statement]:
    q = (
        select(StatementRow)
        .where(StatementRow.round == round_, StatementRow.status == status.value)
        .order_by(StatementRow.problem_id, StatementRow.sample_index, StatementRow.id)
    )
    if limit is not None:
        q = q.limit(limit)
    return [to_statement(r) for r in session.scalars(q)]


def reopen_infra_failed(session: Session, round_: int) -> int:
    """Statements of earlier rounds that got no filter verdict (Lean timed out or crashed on every try) go
    back to the filter's queue; returns how many."""
    result = session.execute(update(StatementRow)
                             .where(StatementRow.status == StatementStatus.INFRA_FAILED.value, StatementRow.round < round_)
                             .values(status=StatementStatus.CANDIDATE.value, drop_detail=None, updated_at=func.now()))
    return result.rowcount


def candidates(session: Session, up_to_round: int, limit: int | None = None) -> list[Statement]:
    """Statements the filter has still to judge: this round's, and earlier ones reopened."""
    q = (
        select(StatementRow)
        .where(StatementRow.round <= up_to_round, StatementRow.status == StatementStatus.CANDIDATE.value)
        .order_by(StatementRow.round, StatementRow.problem_id, StatementRow.sample_index, StatementRow.id)
    )
    if limit is not None:
        q = q.limit(limit)
    return [to_statement(r) for r in session.scalars(q)]


def count_candidates(session: Session, up_to_round: int) -> int:
    return session.scalar(select(func.count()).select_from(StatementRow).where(
        StatementRow.round <= up_to_round, StatementRow.status == StatementStatus.CANDIDATE.value))


def count_with_status(session: Session, round_: int, status: StatementStatus) -> int:
    return session.scalar(select(func.count()).select_from(StatementRow)
                          .where(StatementRow.round == round_, StatementRow.status == status.value))


def known_hashes(session: Session, round_: int) -> set[str]:
    """Normalised hashes a new candidate of this round duplicates: every statement already judged, or waiting
    for Lean (infra_failed). Duplicates are left out: their hash is their original's, which may be a reopened
    candidate that must not count as a duplicate of its own copy."""
    q = select(StatementRow.normalized_sha256).where(
        StatementRow.status != StatementStatus.CANDIDATE.value,
        (StatementRow.drop_reason.is_(None))
        | (StatementRow.drop_reason.not_in([r.value for r in (*EXTRACTION_REASONS, DropReason.DUPLICATE)])),
    )
    return set(session.scalars(q))


def save_decisions(session: Session, statements: Sequence[Statement]) -> None:
    """Write status, drop reason and grade of each statement (the filter's verdicts), by primary key."""
    if not statements:
        return
    session.execute(
        update(StatementRow),
        [
            dict(
                id=s.id, status=s.status.value, drop_reason=s.drop_reason.value if s.drop_reason else None,
                drop_detail=storable(s.drop_detail), grade=storable(s.grade), grade_rationale=storable(s.grade_rationale),
            )
            for s in statements
        ],
    )
