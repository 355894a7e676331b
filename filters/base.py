"""What a filter returns, and the runner that applies filters cheapest first and counts the reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from flywheel.counts import StageCounts
from flywheel.records import DropReason, Statement, StatementStatus


@dataclass(slots=True, frozen=True)
class Drop:
    reason: DropReason
    detail: str = ""


@dataclass(slots=True, frozen=True)
class InfraFailed:
    """No verdict on the statement: Lean timed out or crashed on every try. It stays open for the next round."""

    detail: str


Decision = Drop | InfraFailed | None  # None: keep
# A filter sees the statements still kept and returns one decision for each, in order.
Filter = Callable[[Sequence[Statement]], list[Decision]]


def run_filters(statements: Sequence[Statement], steps: Sequence[tuple[str, Filter]]) -> StageCounts:
    """Apply the steps in order to the statements still kept; mark each statement kept or dropped."""
    counts = StageCounts("filter")
    counts.seen = len(statements)
    alive = [s for s in statements if s.drop_reason is None]
    for name, step in steps:
        if not alive:
            break
        decisions = step(alive)
        if len(decisions) != len(alive):
            raise RuntimeError(f"filter {name} returned {len(decisions)} decisions for {len(alive)} statements")
        survivors = []
        for st, decision in zip(alive, decisions):
            if decision is None:
                survivors.append(st)
            elif isinstance(decision, InfraFailed):  # counted apart: not a drop, not kept
                st.status, st.drop_reason, st.drop_detail = StatementStatus.INFRA_FAILED, None, decision.detail
                counts.outcomes[StatementStatus.INFRA_FAILED.value] += 1
            else:
                st.status, st.drop_reason, st.drop_detail = StatementStatus.DROPPED, decision.reason, decision.detail
                counts.drop(decision.reason)
        counts.outcomes[f"after {name}"] = len(survivors)
        alive = survivors
    for st in alive:
        st.status = StatementStatus.KEPT
    counts.kept = len(alive)
    return counts.stop()
