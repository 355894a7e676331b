"""Rounds and the state of each stage in them, as the round driver and `flywheel status` see them."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import ProblemRow, RoundRow, StatementRow
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
        entry.pop("ended_at", None)
        entry["owner"] = this_process()
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


def formalized_problems(session: Session, number: int, source: str | None = None) -> int:
    """Problems (of this source, if given) that have statements made in this round."""
    q = select(func.count(func.distinct(StatementRow.problem_id))).where(StatementRow.round == number)
    if source is not None:
        q = q.join(ProblemRow, ProblemRow.id == StatementRow.problem_id).where(ProblemRow.source == source)
    return int(session.scalar(q) or 0)


def finish_round(session: Session, number: int) -> None:
    row = session.get(RoundRow, number)
    if row is not None:
        row.finished_at = datetime.now(timezone.utc)


def this_process() -> dict[str, Any]:
    """Who runs a stage: host, pid, and the pid's start time (a pid reused by another process is not ours)."""
    import psutil

    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_started": psutil.Process().create_time()}


def owner_alive(owner: dict[str, Any] | None) -> bool | None:
    """Whether the process recorded as a stage's owner still runs: None where that cannot be told from here
    (another host, or a stage recorded before owners were)."""
    import psutil

    if not owner or owner.get("host") != socket.gethostname():
        return None
    try:
        started = psutil.Process(int(owner["pid"])).create_time()
    except psutil.AccessDenied:  # another user's process: it lives, but whose it is cannot be told
        return None
    except (psutil.NoSuchProcess, KeyError, ValueError):
        return False
    return abs(started - float(owner.get("pid_started", started))) < 1.0
