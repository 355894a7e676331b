"""Rounds and the state of each stage in them, as the round driver and `flywheel status` see them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import RoundRow
from flywheel.records import StageState


def latest_round(session: Session) -> int | None:
    return session.scalar(select(func.max(RoundRow.number)))


def ensure_round(session: Session, number: int, config: dict[str, Any] | None = None) -> None:
    session.execute(insert(RoundRow).values(number=number, config=config or {}).on_conflict_do_nothing())


def set_stage(session: Session, number: int, stage: str, state: StageState, counts: dict[str, Any] | None = None) -> None:
    """Record a stage's state (and its counts when it ends) in rounds.stages, row-locked."""
    ensure_round(session, number)
    row = session.scalars(select(RoundRow).where(RoundRow.number == number).with_for_update()).one()
    stages = dict(row.stages or {})
    entry = dict(stages.get(stage, {}))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    entry["state"] = state.value
    if state is StageState.RUNNING:
        entry.setdefault("started_at", now)
    else:
        entry["ended_at"] = now
    if counts is not None:
        entry["counts"] = counts
    stages[stage] = entry
    row.stages = stages


def stage_state(session: Session, number: int, stage: str) -> StageState | None:
    row = session.get(RoundRow, number)
    if row is None or stage not in (row.stages or {}):
        return None
    return StageState(row.stages[stage]["state"])


def finish_round(session: Session, number: int) -> None:
    row = session.get(RoundRow, number)
    if row is not None:
        row.finished_at = datetime.now(timezone.utc)
