"""The embedded PostgreSQL (pgserver) of one data directory, seen from outside: whether it runs, and stopping it.
Nothing here starts it; db.engine does that when a command needs the store."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flywheel.errors import StoreError


@dataclass(slots=True)
class EmbeddedServer:
    pgdata: Path
    pid: int | None  # the postmaster's, while it runs
    started: datetime | None
    socket_dir: str | None
    port: int | None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def describe(self) -> str:
        if not (self.pgdata / "PG_VERSION").exists():
            return f"embedded PostgreSQL in {self.pgdata}: none yet (the first command that needs the store creates it)"
        if not self.running:
            return f"embedded PostgreSQL in {self.pgdata}: not running (the next command that needs the store starts it)"
        where = f"socket {self.socket_dir}/.s.PGSQL.{self.port}" if self.socket_dir else f"port {self.port}"
        since = f", since {self.started:%Y-%m-%d %H:%M:%S}" if self.started else ""
        return f"embedded PostgreSQL in {self.pgdata}: running, pid {self.pid}, {where}{since}"


def embedded_server(pgdata: Path) -> EmbeddedServer:
    """What PostgreSQL's own postmaster.pid says, checked against the live processes."""
    import psutil

    down = EmbeddedServer(pgdata, None, None, None, None)
    try:
        lines = (pgdata / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        pid = int(lines[0])
    except (OSError, IndexError, ValueError):  # no file: stopped cleanly, or never started
        return down
    try:
        if not psutil.Process(pid).name().startswith("postgres"):
            return down  # a stale file whose pid another program took since
    except psutil.NoSuchProcess:
        return down
    except psutil.AccessDenied:
        pass  # PostgreSQL runs as another user (pgserver's, when we are root): it is there
    # postmaster.pid: pid, data dir, start time, port, socket dir, listen address, shared memory, status
    start, port, sockets = (lines[i].strip() if len(lines) > i else "" for i in (2, 3, 4))
    started = datetime.fromtimestamp(int(start)) if start.isdigit() else None
    return EmbeddedServer(pgdata, pid, started, sockets or None, int(port) if port.isdigit() else None)


def stop_embedded(pgdata: Path, timeout_s: float = 120.0) -> EmbeddedServer | None:
    """Stop it cleanly (`pg_ctl stop -m fast`: clients are disconnected, the data flushed); returns the server
    that was stopped, None when none ran."""
    server = embedded_server(pgdata)
    if not server.running:
        return None
    try:
        from pgserver._commands import pg_ctl
    except ImportError as e:
        raise StoreError("pgserver is not installed, so its server cannot be stopped: pip install pgserver") from e
    # pgserver runs PostgreSQL as its own user when we are root, and pg_ctl refuses to run as root.
    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        pg_ctl(["-m", "fast", "-w", "-t", str(int(timeout_s)), "stop"], pgdata=pgdata, user=user, timeout=timeout_s + 10)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        raise StoreError(f"cannot stop the embedded PostgreSQL in {pgdata} (pid {server.pid}): {e}; "
                         f"its log is {pgdata / 'log'}") from e
    _wait_gone(server.pid, timeout_s)
    return server


def _wait_gone(pid: int, timeout_s: float) -> None:
    """pg_ctl returns once postmaster.pid is gone; the process itself exits a moment later."""
    import psutil

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
