"""Store side of proving: open statements, which units of work are done, and a pass's results."""

from __future__ import annotations

from typing import Iterable, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from db.models import ProofAttemptRow, SearchUnitRow, StatementRow
from db.statements import to_statement
from flywheel.records import DropReason, ProofAttempt, Side, Statement, StatementStatus
from flywheel.text import storable


def open_statements(session: Session, up_to_round: int, limit: int | None = None) -> list[Statement]:
    """Kept statements with neither side proved, from this round and every earlier one."""
    q = (
        select(StatementRow)
        .where(StatementRow.status == StatementStatus.KEPT.value, StatementRow.round <= up_to_round)
        .order_by(StatementRow.round, StatementRow.problem_id, StatementRow.sample_index, StatementRow.id)
    )
    if limit is not None:
        q = q.limit(limit)
    return [to_statement(r) for r in session.scalars(q)]


def done_units(session: Session, round_: int, sides: Iterable[Side], pass_: int) -> set[str]:
    """Statements whose pass `pass_` of this round, on these sides, is stored (a unit commits whole; one of a
    journaling strategy stores attempts early and is done once its search_units row says so)."""
    q = select(ProofAttemptRow.statement_id).distinct().where(
        ProofAttemptRow.round == round_,
        ProofAttemptRow.side.in_([s.value for s in sides]),
        ProofAttemptRow.sampling["pass"].as_integer() == pass_,
    )
    return set(session.scalars(q)) - set(open_searches(session, round_, sides, pass_))


def open_searches(session: Session, round_: int, sides: Iterable[Side], pass_: int) -> dict[str, list[ProofAttempt]]:
    """The units of a journaling strategy a kill left unsettled: their stored attempts, by statement."""
    ids = list(session.scalars(select(SearchUnitRow.statement_id).where(
        SearchUnitRow.round == round_, SearchUnitRow.pass_ == pass_, SearchUnitRow.done.is_(False),
        SearchUnitRow.sides == ",".join(s.value for s in sides))))
    wanted = {s for s in sides}
    return {sid: [a for a in attempts_of(session, sid) if a.round == round_ and a.side in wanted
                  and a.sampling.get("pass") == pass_] for sid in ids}


def tried_before(session: Session, round_: int, statement_ids: Sequence[str], sides: Iterable[Side]) -> set[str]:
    """Those of these statements with an attempt on these sides in a round before this one."""
    if not statement_ids:
        return set()
    q = select(ProofAttemptRow.statement_id).distinct().where(
        ProofAttemptRow.round < round_, ProofAttemptRow.statement_id.in_(list(statement_ids)),
        ProofAttemptRow.side.in_([s.value for s in sides]))
    return set(session.scalars(q))


def seconds_spent(session: Session, round_: int, statement_ids: Sequence[str], sides: Sequence[Side]) -> dict[str, float]:
    """Lean seconds spent this round on these sides of each statement (each stage has its own budget)."""
    q = (
        select(ProofAttemptRow.statement_id, func.sum(ProofAttemptRow.time_s))
        .where(ProofAttemptRow.round == round_, ProofAttemptRow.statement_id.in_(list(statement_ids)),
               ProofAttemptRow.side.in_([x.value for x in sides]))
        .group_by(ProofAttemptRow.statement_id)
    )
    return {sid: float(t or 0) for sid, t in session.execute(q)}


def save_result(session: Session, result, round_: int) -> None:
    save_results(session, [result], round_)


def save_results(session: Session, results, round_: int) -> None:
    """Units in the session's transaction: their attempts (one bulk write), their proofs, the statements'
    new status; subgoal lemmas (decompose) as derived statements before their attempts, the proved ones in the
    lemma pool and as proofs of those statements."""
    from db.bulk import write_attempts
    from db.lemmas import save_derived, save_lemmas

    if any(getattr(r, "derived", None) for r in results):
        with session.connection().connection.dbapi_connection.cursor() as cur:
            save_derived(cur, results, round_)
    write_attempts(session, [a for r in results for a in r.attempts])
    _mark_searches(session, [r for r in results if getattr(r, "search", None)], round_)
    lemma_proofs = []
    if any(getattr(r, "lemmas", None) for r in results):
        with session.connection().connection.dbapi_connection.cursor() as cur:
            lemma_proofs = save_lemmas(cur, results, round_)
    proofs = [r.proof for r in results if r.proof is not None] + lemma_proofs
    if not proofs:
        return
    from psycopg2.extras import execute_values

    status = {Side.STATEMENT: (StatementStatus.PROVED.value, None, None),
              Side.NEGATION: (StatementStatus.DISPROVED.value, None, None),
              Side.FALSE_HYPS: (StatementStatus.DROPPED.value, DropReason.INCONSISTENT_HYPOTHESES.value,
                                "its hypotheses prove False; the proof is stored with side false_hyps")}
    with session.connection().connection.dbapi_connection.cursor() as cur:
        # The proof rows point at their attempts' ids, found by attempt key in the same statement.
        execute_values(cur, _PROOFS, [(p.attempt_id, p.statement_id, p.side.value, p.round, storable(p.theorem),
                                       storable(p.proof), storable(p.code)) for p in proofs])
        execute_values(cur, _STATUS, [(p.statement_id, *status[p.side]) for p in proofs])


_PROOFS = """
INSERT INTO proofs (statement_id, side, attempt_id, round, theorem, proof, code)
SELECT v.statement_id, v.side, a.id, v.round, v.theorem, v.proof, v.code
FROM (VALUES %s) AS v (attempt_key, statement_id, side, round, theorem, proof, code)
JOIN proof_attempts a ON a.attempt_key = v.attempt_key
ON CONFLICT DO NOTHING
"""
_STATUS = """
UPDATE statements AS s SET status = v.status, drop_reason = coalesce(v.drop_reason, s.drop_reason),
       drop_detail = coalesce(v.drop_detail, s.drop_detail), updated_at = now()
FROM (VALUES %s) AS v (id, status, drop_reason, drop_detail)
WHERE s.id = v.id
"""


def _mark_searches(session: Session, results, round_: int) -> None:
    """Units of a journaling strategy: open while their attempts are stored early, done when settled."""
    if not results:
        return
    from sqlalchemy.dialects.postgresql import insert

    rows = {}
    for r in results:  # a unit's last word wins: done after open
        rows[(r.statement.id, r.pass_, ",".join(r.sides))] = r.search == "done"
    stmt = insert(SearchUnitRow).values([{"statement_id": sid, "round": round_, "pass_": p, "sides": sides, "done": d}
                                         for (sid, p, sides), d in rows.items()])
    session.execute(stmt.on_conflict_do_update(index_elements=["statement_id", "round", "pass", "sides"],
                                               set_={"done": or_(stmt.excluded.done, SearchUnitRow.done),
                                                     "updated_at": func.now()}))


def attempts_of(session: Session, statement_id: str) -> list[ProofAttempt]:
    parent = aliased(ProofAttemptRow)
    rows = session.execute(select(ProofAttemptRow, parent.attempt_key)
                           .outerjoin(parent, parent.id == ProofAttemptRow.parent_id)
                           .where(ProofAttemptRow.statement_id == statement_id).order_by(ProofAttemptRow.id))
    return [
        ProofAttempt(r.attempt_key, r.statement_id, Side(r.side), r.round, r.model, dict(r.sampling), r.proof,
                     r.code_sha256, r.verdict, r.reason, list(r.messages), r.time_s, r.cached, strategy=r.strategy,
                     turn=r.turn, parent=parent_key, tokens=r.tokens, search=r.search)
        for r, parent_key in rows
    ]
