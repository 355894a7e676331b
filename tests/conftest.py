"""Shared fixtures: a private PostgreSQL database per test session, the benchmark data in tests/data."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The real data and REPL answers the tests read ship in tests/data (see its README); FLYWHEEL_SHARED points
# them at another copy of the same layout.
SHARED = Path(os.environ.get("FLYWHEEL_SHARED", REPO / "tests" / "data"))
DATA = SHARED / "data"
LEAN_DATA = SHARED / "lean"
DEFAULT_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _need(reason: str):
    # In CI every dependency is installed and PostgreSQL is started, so a missing one is a failure.
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: this must not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():  # only a FLYWHEEL_SHARED that names no such folder: a mistake, not a missing need
        pytest.fail(f"test data not found at {DATA} (FLYWHEEL_SHARED={os.environ.get('FLYWHEEL_SHARED')!r})")
    return DATA


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A fresh database on the test server with the schema at head; dropped at the end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from db import migrate

    server = os.environ.get("FLYWHEEL_TEST_DB_URL", DEFAULT_SERVER)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"flywheel_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        admin.dispose()
        _need(f"PostgreSQL not reachable at {make_url(server).render_as_string()}: {e.orig}")
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


TABLES = ["proofs", "proof_attempts", "statements", "problems", "rounds", "checkpoints", "verdict_cache",
          "eval_attempts", "eval_problems", "evaluations"]


@pytest.fixture()
def store(pg_url, monkeypatch):
    """An empty store on the session's database; FLYWHEEL_DB_URL points the CLI at it too."""
    from sqlalchemy import text

    from db.store import Store
    from flywheel.config import DbConfig

    monkeypatch.setenv("FLYWHEEL_DB_URL", pg_url)
    s = Store.open(DbConfig(url=pg_url))
    with s.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    yield s
    s.close()


@pytest.fixture()
def embedded_data_dir(monkeypatch):
    """FLYWHEEL_DATA_DIR on a fresh folder, FLYWHEEL_DB_URL unset: commands start (or reuse) the embedded
    PostgreSQL there; it is stopped and removed at the end."""
    import shutil
    import tempfile

    # pgserver runs PostgreSQL as its own user when we are root: the folder must be reachable by it.
    path = tempfile.mkdtemp(prefix="flywheel-embedded-")
    os.chmod(path, 0o755)
    monkeypatch.delenv("FLYWHEEL_DB_URL", raising=False)
    monkeypatch.setenv("FLYWHEEL_DATA_DIR", path)
    yield path
    from db.embedded import stop_embedded

    try:
        stop_embedded(Path(path) / "pgdata")
    except Exception:  # a test that failed midway may leave it half started; the folder goes anyway
        pass
    shutil.rmtree(path, ignore_errors=True)


FAKE_REPL = REPO / "tests" / "fake_repl.py"
HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n\n"


@pytest.fixture()
def fake_repl(monkeypatch, shared_data) -> str:
    """The command of the fake REPL (a test double replaying the real answers in tests/data/lean)."""
    import shlex
    import sys

    monkeypatch.setenv("FAKE_REPL_SHARED", str(SHARED))
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_REPL))}"


@pytest.fixture()
def lean_cfg(fake_repl):
    from flywheel.config import LeanConfig

    return LeanConfig(repl=fake_repl, timeout_s=3.0, workers=2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, shared_data) -> str:
    """A tiny random Llama with a tokenizer trained here (tests/tiny_model.py), built once a session."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from tests.tiny_model import build

    return str(build(tmp_path_factory.mktemp("tiny-llama"), SHARED))


@pytest.fixture(scope="session")
def real_lean():
    """The real Lean 4 of 2021 and its REPL (tests/real_lean.py), unpacked once into the test cache."""
    from tests.real_lean import ARCHIVE, unpack

    if not ARCHIVE.is_file():
        _need(f"the real-Lean tier needs {ARCHIVE} (see tests/data/lean/lean2021-runtime/README.md)")
    return unpack()


@pytest.fixture()
def real_lean_cfg(real_lean, monkeypatch):
    """A LeanConfig on the real 2021 REPL: the REPL command and LEAN_PATH, no Lake project, core header."""
    from flywheel.config import LeanConfig

    monkeypatch.setenv("LEAN_PATH", str(real_lean.lean_path))
    return LeanConfig(repl=str(real_lean.repl), header="", timeout_s=60.0, workers=1)


def pytest_terminal_summary(terminalreporter):
    ran = [r for r in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
           if r.when == "call" and "lean" in getattr(r, "keywords", {})]
    if ran:
        terminalreporter.write_line(f"real-Lean tier: {len(ran)} tests ran on the real Lean 4 REPL")
