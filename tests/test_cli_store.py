"""The store from the CLI: migrations from empty, the embedded PostgreSQL, schema checks, dead servers."""

import os

import pytest
from sqlalchemy import create_engine, text

from orchestration.cli import main

pytestmark = pytest.mark.postgres


def test_embedded_database_start_up(embedded_data_dir, capsys, shared_data):
    assert main(["status"]) == 2
    assert "no flywheel schema yet: run `flywheel db upgrade`" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"embedded PostgreSQL in {embedded_data_dir}" in out and "upgraded from empty to" in out
    assert main(["db", "upgrade"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["ingest", str(shared_data / "informal/math500.jsonl"), "--source", "math500"]) == 0
    assert main(["status"]) == 0
    assert "problems: 500" in capsys.readouterr().out


def test_migrations_from_empty_and_behind(pg_url, capsys, monkeypatch):
    from sqlalchemy.engine import make_url

    name = "flywheel_mig_" + os.urandom(4).hex()
    admin = create_engine(make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        monkeypatch.setenv("FLYWHEEL_DB_URL", url)
        assert main(["db", "upgrade"]) == 0
        engine = create_engine(url)
        with engine.connect() as c:
            tables = set(c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars())
            views = set(c.execute(text("SELECT viewname FROM pg_views WHERE schemaname='public'")).scalars())
        assert {"problems", "statements", "proof_attempts", "proofs", "rounds", "checkpoints", "verdict_cache"} <= tables
        assert {"verified_pairs", "round_funnel", "drop_reasons", "attempt_outcomes"} <= views
        with engine.begin() as c:
            c.execute(text("UPDATE alembic_version SET version_num = '0000'"))
        engine.dispose()
        capsys.readouterr()
        assert main(["status"]) == 2
        assert "is at schema 0000" in capsys.readouterr().err
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_dead_server_is_named_without_its_password(capsys):
    assert main(["--db", "postgresql://fw:s3cret@127.0.0.1:1/flywheel", "status"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the database at postgresql+psycopg2://fw:***@127.0.0.1:1/flywheel" in err
    assert "s3cret" not in err


def test_db_status_and_stop_the_embedded_server(embedded_data_dir, capsys):
    import re
    import subprocess
    import sys

    import psutil

    from tests.conftest import REPO

    assert main(["db", "status"]) == 0
    assert f"embedded PostgreSQL in {embedded_data_dir}/pgdata: none yet" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["db", "status"]) == 0
    running = re.search(r"pgdata: running, pid (\d+), socket \S+/\.s\.PGSQL\.\d+, since ", capsys.readouterr().out)
    assert running and psutil.pid_exists(int(running[1]))
    assert main(["db", "stop"]) == 0
    assert f"stopped (was pid {running[1]})" in capsys.readouterr().out
    try:  # gone, or a zombie its parent (here whatever adopted it from pg_ctl) has not reaped yet
        assert psutil.Process(int(running[1])).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass
    assert main(["db", "status"]) == 0
    assert "pgdata: not running (the next command that needs the store starts it)" in capsys.readouterr().out
    assert main(["db", "stop"]) == 0
    assert "was not running" in capsys.readouterr().out
    # The next command (a process of its own, as from a shell) starts it again on the same data.
    env = dict(os.environ, PYTHONPATH=str(REPO))
    again = subprocess.run([sys.executable, "-m", "orchestration.cli", "db", "status"], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert "not running" in again.stdout
    again = subprocess.run([sys.executable, "-m", "orchestration.cli", "db", "current"], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "(head" in again.stdout and ", current)" in again.stdout, again.stderr


def test_db_status_of_a_server_flywheel_does_not_manage(capsys):
    assert main(["--db", "postgresql://fw:s3cret@db.example:5432/flywheel", "db", "status"]) == 0
    out = capsys.readouterr().out
    assert "a server flywheel does not manage: nothing to report here" in out and "s3cret" not in out


def test_a_server_that_cuts_a_command_off_is_one_line(store, capsys, monkeypatch):
    """The server ends the command's session in the middle (as a restart does): one line, no traceback."""
    import db.status

    def cut_off(store, require_checks):
        with store.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    monkeypatch.setattr(db.status, "status_report", cut_off)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    [line] = err.splitlines()  # the server's reason ("server closed the connection unexpectedly") in between
    assert line.startswith(f"flywheel: error: the database ({store.describe()}) failed: ")
    assert line.endswith("; what was stored before it is kept")
    assert "connection" in line
