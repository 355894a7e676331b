"""Store side of evaluation: one row per evaluation, per problem (committed with its attempts), and pass@k."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import CheckpointRow, EvalProblemRow, EvaluationRow
from flywheel.hashing import sha256_json
from flywheel.text import storable, storable_json


def evaluation_id(session: Session, checkpoint: str, benchmark: str, split: str, n: int, ks: Sequence[int],
                  settings: dict, problems: int, checkpoint_id: int | None = None, round_: int | None = None) -> int:
    """The evaluation of these parameters, recorded now unless it was already (then it resumes)."""
    key = sha256_json({"checkpoint": checkpoint, "benchmark": benchmark, "split": split, "n": n, "settings": settings})
    session.execute(insert(EvaluationRow).values(
        key=key, checkpoint=checkpoint, checkpoint_id=checkpoint_id, round=round_, benchmark=benchmark, split=split,
        n=n, ks=list(ks), settings=settings, problems=problems).on_conflict_do_nothing())
    row = session.scalars(select(EvaluationRow).where(EvaluationRow.key == key)).one()
    row.ks = sorted(set(row.ks or []) | set(ks))
    row.problems = max(row.problems, problems)
    return row.id


def done_problems(session: Session, evaluation: int) -> set[str]:
    return set(session.scalars(select(EvalProblemRow.problem).where(EvalProblemRow.evaluation_id == evaluation)))


def save_problems(session: Session, evaluation: int, results) -> None:
    """Problems and all their attempts in the session's transaction; a problem stored before is left as it was."""
    from psycopg2.extras import execute_values

    from psycopg2.extras import Json

    rows = [(evaluation, r.name, r.source, r.n, r.correct, float(sum(a.time_s for a in r.attempts)), Json(r.spent))
            for r in results]
    attempts = [(evaluation, r.name, k, t, storable(a.model), storable(a.proof), a.code_sha256, a.verdict.value,
                 storable(a.reason), storable_json(a.messages or []), float(a.time_s), bool(a.cached), a.strategy,
                 a.turn, a.tokens) for r in results for k, (a, t) in enumerate(zip(r.attempts, r.of_attempt, strict=True))]
    with session.connection().connection.dbapi_connection.cursor() as cur:
        execute_values(cur, "INSERT INTO eval_problems (evaluation_id, problem, source, n, correct, lean_s, spent) "
                            "VALUES %s ON CONFLICT DO NOTHING", rows)
        if attempts:
            execute_values(cur, "INSERT INTO eval_attempts (evaluation_id, problem, sample, attempt, model, proof, "
                                "code_sha256, verdict, reason, messages, time_s, cached, strategy, turn, tokens) VALUES %s "
                                "ON CONFLICT DO NOTHING", attempts, page_size=1000)


def problem_counts(session: Session, evaluation: int) -> list[tuple[str, str | None, int, int, list]]:
    """(problem, source, n, correct, spent per attempt) in problem order."""
    q = (select(EvalProblemRow.problem, EvalProblemRow.source, EvalProblemRow.n, EvalProblemRow.correct,
                EvalProblemRow.spent)
         .where(EvalProblemRow.evaluation_id == evaluation).order_by(EvalProblemRow.problem))
    return [tuple(r) for r in session.execute(q)]


def finish(session: Session, evaluation: int, pass_at_k: dict, by_source: dict, budgets: dict | None = None) -> None:
    row = session.get(EvaluationRow, evaluation)
    row.pass_at_k, row.by_source, row.budgets = pass_at_k, by_source, budgets
    row.finished_at = datetime.now(timezone.utc)


def checkpoint_path(session: Session, ident: int) -> str | None:
    row = session.get(CheckpointRow, ident)
    return row.path if row else None


def checkpoint_id_of(session: Session, path: str) -> int | None:
    return session.scalar(select(CheckpointRow.id).where(CheckpointRow.path == path).order_by(CheckpointRow.id.desc()).limit(1))


def latest_by_round(session: Session) -> dict[int, dict]:
    """round -> the pass@k of its latest finished evaluation, with the benchmark and split it was on."""
    rows = session.scalars(select(EvaluationRow).where(EvaluationRow.round.is_not(None), EvaluationRow.finished_at.is_not(None))
                           .order_by(EvaluationRow.finished_at))
    return {r.round: {"benchmark": r.benchmark, "split": r.split, "n": r.n, "checkpoint": r.checkpoint,
                      "pass_at_k": dict(r.pass_at_k or {}), "budgets": r.budgets} for r in rows}
