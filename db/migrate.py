"""Schema versions: upgrade to head, and refuse to run against a schema that is behind."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from flywheel.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")


def _alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations; returns (revision before, revision after)."""
    from alembic import command

    before = current_revision(engine)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
    return before, current_revision(engine)


def require_current(engine: Engine, where: str) -> None:
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None:
        raise StoreError(f"the database at {where} has no flywheel schema yet: run `flywheel db upgrade`")
    raise StoreError(
        f"the database at {where} is at schema {current}, this flywheel needs {head}: run `flywheel db upgrade`"
    )
