"""The lemma pool and derived statements in the store: subgoal lemmas (decompose) as statements of their own,
written before their attempts; the proved ones as pool rows and proofs of those statements."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import LemmaRow
from flywheel.text import storable
from flywheel.records import Side, StatementStatus

_DERIVED = """
INSERT INTO statements (id, problem_id, round, header, text, preamble, name, normalized_sha256, status, derived_from)
VALUES %s ON CONFLICT (id) DO NOTHING
"""
_LEMMAS = """
INSERT INTO lemmas (statement_sha256, statement, side, proof, derived_id, source_statement_id, source_side, round,
                    attempt_id)
SELECT v.sha, v.statement, v.side, v.proof, v.derived_id, v.source_id, v.source_side, v.round, a.id
FROM (VALUES %s) AS v (sha, statement, side, proof, derived_id, source_id, source_side, round, attempt_key)
LEFT JOIN proof_attempts a ON a.attempt_key = v.attempt_key
ON CONFLICT (derived_id, side) DO NOTHING
"""


def save_derived(cur, results, round_: int) -> None:
    """Each unit's subgoal lemmas as statements of the next round (open: the next round's prove stage tries
    those this one did not settle), derived_from the statement sketched."""
    rows = {}
    for r in results:
        for d in getattr(r, "derived", ()):
            rows[d.id] = (d.id, None, round_ + 1, storable(d.header), storable(d.text), storable(d.preamble),
                          d.name, d.normalized_sha256, StatementStatus.KEPT.value, r.statement.id)
    if rows:
        from psycopg2.extras import execute_values

        execute_values(cur, _DERIVED, list(rows.values()))


def save_lemmas(cur, results, round_: int) -> list:
    """The pool rows of the lemmas proved; returns their proofs, for the proofs table with the others."""
    found = [f for r in results for f in getattr(r, "lemmas", ())]
    if not found:
        return []
    from psycopg2.extras import execute_values

    execute_values(cur, _LEMMAS, [(f.statement.normalized_sha256, storable(f.statement.text), f.side.value,
                                   storable(f.proof), f.statement.id, f.source.id, f.source_side.value, round_,
                                   f.attempt_id) for f in found])
    return [f.record for f in found]


def pool(session: Session) -> list:
    """Every proved lemma (the statement side only: a negation proves nothing of a subgoal) as
    flywheel.records.ProvedLemma, with its derived statement's header and preamble, one per statement hash, the
    first stored winning, in stored order."""
    from db.models import StatementRow
    from flywheel.records import ProvedLemma

    rows = session.execute(select(LemmaRow.statement_sha256, StatementRow.header, StatementRow.preamble,
                                  LemmaRow.statement, LemmaRow.proof)
                           .join(StatementRow, StatementRow.id == LemmaRow.derived_id)
                           .where(LemmaRow.side == Side.STATEMENT.value).order_by(LemmaRow.id))
    out: dict[str, ProvedLemma] = {}
    for sha, header, preamble, statement, proof in rows:
        out.setdefault(sha, ProvedLemma(sha, header, preamble or "", statement, proof))
    return list(out.values())
