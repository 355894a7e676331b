"""One owner per piece of work on a store: the rounds, the audit, the training of a round, an evaluation's key.
A PostgreSQL session-level advisory lock on a connection of its own, held while the work runs: it goes with the
connection, so a process killed by any signal (or a lost host) lets go of it, and a resume after kill -9 finds it
free. The owner's pid and host ride in that connection's application_name, where a refused process reads them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from db.store import Store
from flywheel.errors import FlywheelError, StoreError

_PREFIX = "flywheel owner "
_NAME_MAX = 63  # PostgreSQL keeps NAMEDATALEN - 1 bytes of application_name


class OwnedElsewhere(FlywheelError):
    """Another live process owns this work on this store; the message names its pid and host."""


def lock_key(work: str) -> int:
    """A stable non-negative 63-bit key for the work's name (never Python's per-process hash())."""
    return int.from_bytes(hashlib.sha256(f"flywheel:{work}".encode()).digest()[:8], "big") >> 1


def application_name() -> str:
    return f"{_PREFIX}pid {os.getpid()} on {socket.gethostname()}"[:_NAME_MAX]


@contextlib.contextmanager
def own(store: Store, work: str, hint: str = "") -> Iterator[None]:
    """Hold `work` on this store until the block ends, or refuse at once (OwnedElsewhere) while another holds it."""
    key = lock_key(work)
    # Autocommit: the lock is the session's, and a connection idle in a transaction for hours would hold back
    # VACUUM (and meets idle_in_transaction_session_timeout where a server sets one).
    engine = create_engine(store.engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                           connect_args={"application_name": application_name()})
    conn = None
    try:
        conn = engine.connect()
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
            raise OwnedElsewhere(f"{work} on {store.describe()}: {holder(conn, key)} owns it; "
                                 f"{hint or 'wait for it to end, or stop it'} (a killed owner lets go at once)")
    except BaseException as e:
        if conn is not None:
            conn.close()
        engine.dispose()
        if isinstance(e, SQLAlchemyError):
            raise StoreError(f"cannot take {work} on {store.describe()}: {e}") from e
        raise
    try:
        yield
    finally:
        with contextlib.suppress(SQLAlchemyError):  # a server that went away took the lock with it
            conn.close()  # closing the session lets go of the lock: no unlock to forget
        engine.dispose()


def holder(conn, key: int) -> str:
    """Who holds the key, as its own connection named itself ("flywheel owner pid P on HOST"), since when."""
    row = conn.execute(text(
        "SELECT a.application_name, a.pid, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = :hi AND l.objid::bigint = :lo LIMIT 1"),
        {"hi": key >> 32, "lo": key & 0xFFFFFFFF}).first()
    if row is None:  # it let go between our try and this look: say so rather than name no one
        return "a process that has just ended"
    name, backend, since = row
    since_text = f", since {since:%Y-%m-%d %H:%M:%S %Z}".rstrip() if since is not None else ""
    if name and name.startswith(_PREFIX):
        return f"flywheel process {name.removeprefix(_PREFIX)}{since_text}"
    return f"PostgreSQL session {backend} ({name or 'no application_name'}){since_text}"
