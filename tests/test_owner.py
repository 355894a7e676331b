"""One owner per store for each piece of work, through the CLI with two real processes: the first holds its work
(blocked inside the model server double, which the test sees), the second refuses at once naming the first's pid
and host; a kill -9 of the owner frees the work for a resume."""

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid

import pytest
import yaml

from db.owner import OwnedElsewhere, own
from orchestration.cli import main
from tests.conftest import REPO
from tests.doubles import OpenAIServer
from tests.round_model import SAMPLE, respond

pytestmark = pytest.mark.postgres
WAIT_S = 120


class Gate:
    """A responder that holds the first request until the test opens it, and tells the test it holds one."""

    def __init__(self, inner):
        self.inner = inner
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, prompt: str, i: int) -> str:
        self.entered.set()
        if not self.opened.wait(WAIT_S):
            raise TimeoutError("the test never opened the gate")
        return self.inner(prompt, i)


def _answer(prompt: str, i: int) -> str:
    """The round's scripted answers; a benchmark problem (which it does not script) gets a proof that fails."""
    if "n = " in prompt or "Translate the problem" in prompt or "grading" in prompt:
        return respond(prompt, i)
    return "  exact absurd\n```"


@pytest.fixture()
def gated():
    gate = Gate(_answer)
    server = OpenAIServer(gate)
    yield server, gate
    gate.opened.set()
    server.close()


def _config(tmp_path, server, fake_repl) -> str:
    path = tmp_path / f"owner-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump({
        "generator": {"backend": "openai", "model": "scripted", "base_url": server.url, "max_retries": 2,
                      "request_timeout_s": WAIT_S},
        "lean": {"repl": fake_repl, "timeout_s": 10, "workers": 1},
        "autoformalize": {"few_shot": 1, "samples": 1},
        "prover": {"samples_per_side": 1, "passes": 1, "hypothesis_rejection": False},
        "run": {"train": False, "evaluate": False},
    }))
    return str(path)


def _env(url: str) -> dict:
    return dict(os.environ, FLYWHEEL_DB_URL=url, PYTHONPATH=str(REPO))


def _start(args, url) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", *args], env=_env(url), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _refused(args, url, owner_pid: int) -> str:
    done = subprocess.run([sys.executable, "-m", "orchestration.cli", *args], env=_env(url), cwd=REPO,
                          capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert f"pid {owner_pid} on {socket.gethostname()}" in done.stderr and "owns it" in done.stderr, done.stderr
    return done.stderr


def _rows(store, sql: str) -> list:
    from sqlalchemy import text

    with store.engine.connect() as c:
        return sorted(map(tuple, c.execute(text(sql)).all()))


def _first_run(url, tmp_path, server, fake_repl):
    """The sample problems ingested, then `flywheel run --rounds 1` started: (config, --out, the process)."""
    assert main(["ingest", str(SAMPLE), "--source", "sample", "--map", "informal=informal_prefix", "--map",
                 "id=name"]) == 0
    cfg = _config(tmp_path, server, fake_repl)
    out = ["--out", str(tmp_path / "runs")]
    return cfg, out, _start(["--config", cfg, "run", "--rounds", "1", *out], url)


def test_a_second_run_refuses_while_the_first_owns_the_rounds(store, pg_url, tmp_path, gated, fake_repl):
    gate = gated[1]
    cfg, out, first = _first_run(pg_url, tmp_path, gated[0], fake_repl)
    try:
        assert gate.entered.wait(WAIT_S), first.communicate(timeout=5)  # the first is autoformalizing round 1
        statements_before = _rows(store, "SELECT id, status FROM statements")
        rounds_before = _rows(store, "SELECT number, stages::text FROM rounds")
        for second in (["run", "--resume"], ["run", "--rounds", "1"]):
            err = _refused(["--config", cfg, *second, *out], pg_url, first.pid)
            assert "the rounds" in err and "flywheel status" in err
        # the refused processes wrote nothing: no round of their own, no stage taken over
        assert _rows(store, "SELECT number, stages::text FROM rounds") == rounds_before
        assert _rows(store, "SELECT id, status FROM statements") == statements_before
        gate.opened.set()
        stdout, stderr = first.communicate(timeout=WAIT_S * 3)
        assert first.returncode == 0, stderr
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert _rows(store, "SELECT number, finished_at IS NOT NULL FROM rounds") == [(1, True)]
    # every statement the round made was filtered: none left as the concurrent run left them
    assert not _rows(store, "SELECT id FROM statements WHERE status = 'candidate'")
    again = subprocess.run([sys.executable, "-m", "orchestration.cli", "--config", cfg, "run", "--resume", *out],
                           env=_env(pg_url), cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert again.returncode == 0 and "nothing to resume" in again.stdout, again.stderr


def test_kill_9_of_the_owner_frees_the_rounds_for_resume(store, pg_url, tmp_path, gated, fake_repl):
    gate = gated[1]
    cfg, out, first = _first_run(pg_url, tmp_path, gated[0], fake_repl)
    assert gate.entered.wait(WAIT_S), first.communicate(timeout=5)
    first.send_signal(signal.SIGKILL)  # as the OOM killer would: no handler runs, the lock's session ends
    first.communicate(timeout=60)
    gate.opened.set()
    resumed = subprocess.run([sys.executable, "-m", "orchestration.cli", "--config", cfg, "run", "--resume", *out],
                             env=_env(pg_url), cwd=REPO, capture_output=True, text=True, timeout=WAIT_S * 3)
    assert resumed.returncode == 0, resumed.stderr
    assert _rows(store, "SELECT number, finished_at IS NOT NULL FROM rounds") == [(1, True)]


def test_a_second_eval_of_one_key_refuses(store, pg_url, tmp_path, gated, fake_repl):
    server, gate = gated
    cfg = _config(tmp_path, server, fake_repl)
    args = ["--config", cfg, "eval", "--benchmark", "minif2f", "--split", "valid", "--n", "1", "--k", "1",
            "--limit", "1", "--checkpoint", "scripted"]
    first = _start(args, pg_url)
    try:
        assert gate.entered.wait(WAIT_S), first.communicate(timeout=5)
        err = _refused(args, pg_url, first.pid)
        assert "evaluation" in err and "minif2f valid" in err
        gate.opened.set()
        stdout, stderr = first.communicate(timeout=WAIT_S)
        assert first.returncode == 0, stderr
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert _rows(store, "SELECT count(*) FROM eval_problems") == [(1,)]


@pytest.mark.parametrize("work, args", [
    ("the audit", ["lean", "audit"]),
    ("the training of round 1", ["train", "--round", "1"]),
])
def test_audit_and_train_refuse_while_another_process_owns_them(store, pg_url, tmp_path, work, args, tiny_model):
    from sqlalchemy import text

    with store.engine.begin() as c:
        c.execute(text("INSERT INTO rounds (number, config, stages) VALUES (1, '{}', '{}')"))
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump({"generator": {"model": tiny_model}, "train": {"out_dir": str(tmp_path / "ck")}}))
    with own(store, work):  # this test process is the live owner the CLI meets
        err = _refused(["--config", str(cfg), *args], pg_url, os.getpid())
        assert work in err
        with pytest.raises(OwnedElsewhere):
            with own(store, work):
                pass
    with own(store, work):  # let go when the block ended: taken again at once
        pass
