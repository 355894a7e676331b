"""Where the database is, how to reach it, and whether its schema is current."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from flywheel.config import DbConfig
from flywheel.errors import StoreError

log = logging.getLogger(__name__)


def redact(url: str) -> str:
    """The URL with any password hidden, for every message a user sees."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("flywheel", appauthor=False))


@dataclass(slots=True)
class Location:
    url: str
    embedded_dir: Path | None  # set when we started (or reuse) a private PostgreSQL

    def describe(self) -> str:
        if self.embedded_dir is not None:
            return f"embedded PostgreSQL in {self.embedded_dir}"
        return redact(self.url)


def _normalise_url(url: str) -> str:
    # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; we ship psycopg2.
    try:
        u = make_url(url)
    except ArgumentError as e:
        raise StoreError(f"not a database URL: {redact(url)} ({e})") from e
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg2")
    if not u.drivername.startswith("postgresql"):
        raise StoreError(f"flywheel stores in PostgreSQL; {redact(url)} is {u.drivername}")
    return u.render_as_string(hide_password=False)


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) a private PostgreSQL under data_dir; it keeps running for the next command."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pgserver
    except ImportError as e:
        raise StoreError("no FLYWHEEL_DB_URL is set and pgserver is not installed: pip install pgserver") from e
    pgdata = data_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            server = pgserver.get_server(str(pgdata), cleanup_mode=None)
    except Exception as e:  # pgserver raises bare exceptions with the postgres log inside
        raise StoreError(f"cannot start the embedded PostgreSQL in {pgdata}: {e}") from e
    uri = make_url(server.get_uri())
    return uri.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def embedded_pgdata(cfg: DbConfig) -> Path | None:
    """Where the embedded server keeps its data (one server per data dir), or None when a URL names the store."""
    if cfg.url:
        return None
    return (Path(cfg.data_dir) if cfg.data_dir else default_data_dir()) / "pgdata"


def described(cfg: DbConfig) -> str:
    """Where cfg points, as Location.describe says it, without starting anything."""
    return Location(cfg.url or "", embedded_pgdata(cfg)).describe()


def locate(cfg: DbConfig) -> Location:
    pgdata = embedded_pgdata(cfg)
    if pgdata is None:
        return Location(_normalise_url(cfg.url), None)
    return Location(start_embedded(pgdata.parent), pgdata)


def connect(url: str, echo: bool = False) -> Engine:
    """An engine that has answered once, or a StoreError saying which server is down."""
    engine = create_engine(url, echo=echo, pool_pre_ping=True, future=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        raise StoreError(f"cannot reach the database at {redact(url)}: {reason}") from e
    except SQLAlchemyError as e:
        raise StoreError(f"database at {redact(url)} failed: {e}") from e
    return engine


def store_failed(exc: BaseException) -> str | None:
    """Why the server failed (down, restarted, unreachable, the connection cut), from exc or what caused it;
    None when exc is not such a failure (a unit's data refused is not)."""
    import psycopg2
    from sqlalchemy.exc import DisconnectionError, InterfaceError

    seen = exc
    while seen is not None:
        if isinstance(seen, (OperationalError, InterfaceError, DisconnectionError, psycopg2.OperationalError,
                             psycopg2.InterfaceError)):
            text_ = str(getattr(seen, "orig", None) or seen).strip()
            return text_.splitlines()[0] if text_ else type(seen).__name__
        seen = seen.__cause__ or seen.__context__
    return None
