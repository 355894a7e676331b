"""Trained checkpoints: what the train stage records, and what the next round proves with."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import CheckpointRow


def save_checkpoint(session: Session, round_: int, path: str, base_model: str | None, data_manifest_sha256: str | None,
                    metrics: dict, method: str, serve: str, adapter: str | None, config: dict) -> int:
    """Record a checkpoint; training the same round into the same folder again (a resumed training)
    replaces its record rather than adding one. Returns its id."""
    values = dict(round=round_, path=path, base_model=base_model, data_manifest_sha256=data_manifest_sha256,
                  metrics=metrics, method=method, serve=serve, adapter=adapter, config=config)
    stmt = insert(CheckpointRow).values(**values)
    stmt = stmt.on_conflict_do_update(constraint="uq_checkpoints_round_path",
                                      set_={k: stmt.excluded[k] for k in values if k not in ("round", "path")})
    return session.scalar(stmt.returning(CheckpointRow.id))


def checkpoint_before(session: Session, round_: int) -> CheckpointRow | None:
    """The newest checkpoint trained in a round before `round_`: the prover of round `round_`."""
    return session.scalars(select(CheckpointRow).where(CheckpointRow.round < round_)
                           .order_by(CheckpointRow.round.desc(), CheckpointRow.id.desc()).limit(1)).first()
