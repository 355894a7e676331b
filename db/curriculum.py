"""Store side of GRPO's curriculum: the statement sides a prover may train on, their pass rates for a model
(the `statement_pass_rates` view), and the rollouts of a training tied to its checkpoint."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db.models import StatementRow
from db.statements import to_statement
from flywheel.records import Side, Statement, StatementStatus

# A kept statement may go either way; a proved one is trained on its statement side, a disproved one on its
# negation (the other side of each is false: its rate is 0, outside any band).
_SIDES = {StatementStatus.KEPT: (Side.STATEMENT, Side.NEGATION), StatementStatus.PROVED: (Side.STATEMENT,),
          StatementStatus.DISPROVED: (Side.NEGATION,)}


def trainable(session: Session, up_to_round: int, sides: Sequence[Side]) -> list[tuple[Statement, Side]]:
    """Statement sides of rounds 1..up_to_round that a prover can be trained on, in a stable order."""
    q = (select(StatementRow)
         .where(StatementRow.status.in_([s.value for s in _SIDES]), StatementRow.round <= up_to_round)
         .order_by(StatementRow.round, StatementRow.id))
    out = []
    for row in session.scalars(q):
        st = to_statement(row)
        out += [(st, side) for side in _SIDES[st.status] if side in sides]
    return out


_COUNTS = text("""
SELECT statement_id, side, sum(attempts) AS attempts, sum(proved) AS proved
FROM statement_pass_rates
WHERE model = :model AND source <> 'rl' AND statement_id = ANY(:ids)
GROUP BY statement_id, side
""")


def pass_counts(session: Session, model: str, statement_ids: Sequence[str]) -> dict[tuple[str, Side], tuple[int, int]]:
    """(attempts, proved) of `model` on each side of these statements, from proving and sampling passes (a
    training's own rollouts come from a policy on the move, and count for no model); crashed checks left out."""
    if not statement_ids:
        return {}
    rows = session.execute(_COUNTS, {"model": model, "ids": list(statement_ids)})
    return {(r.statement_id, Side(r.side)): (int(r.attempts), int(r.proved)) for r in rows}


def attach_to_checkpoint(session: Session, checkpoint_id: int, run: str, model: str, round_: int) -> int:
    """The rollouts of the training `run` and the sampling passes of its model (the pass rate after) name
    the checkpoint they belong to, once it is recorded. Returns how many attempts were tied."""
    done = session.execute(text(
        "UPDATE proof_attempts SET checkpoint_id = :ident WHERE round = :round AND checkpoint_id IS NULL AND "
        "((source = 'rl' AND sampling->>'run' = :run) OR (source = 'sample' AND model = :model))"),
        {"ident": checkpoint_id, "round": round_, "run": run, "model": model})
    return done.rowcount
