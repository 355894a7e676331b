"""The store handle every command opens: an engine on a located database with a current schema."""

from __future__ import annotations

import contextlib
from typing import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from db import engine as dbengine
from db import migrate
from flywheel.config import DbConfig


class Store:
    """Opened with `Store.open(cfg)`; a context manager that disposes of its engine."""

    def __init__(self, engine: Engine, location: dbengine.Location):
        self.engine = engine
        self.location = location
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, cfg: DbConfig, *, require_schema: bool = True) -> "Store":
        location = dbengine.locate(cfg)
        engine = dbengine.connect(location.url, echo=cfg.echo)
        store = cls(engine, location)
        if require_schema:
            migrate.require_current(engine, location.describe())
        return store

    def describe(self) -> str:
        return self.location.describe()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def read_only(self) -> Iterator[Connection]:
        """A connection inside a READ ONLY transaction: PostgreSQL refuses every write."""
        with self.engine.connect() as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            try:
                yield conn
            finally:
                conn.rollback()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
