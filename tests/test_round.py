"""Whole rounds from the CLI with the scripted model (an OpenAI server double) and the fake REPL:
serial and Ray agree; kill -9 at random points then --resume leaves the same store; budgets; crashes."""

import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import migrate
from orchestration.cli import main
from tests.conftest import REPO
from tests.doubles import OpenAIServer
from tests.round_model import SAMPLE, respond
from tests.states import wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def audit_toolchain(tmp_path, monkeypatch):
    """The audit stage's fake `lean`, `lake` and lean4checker, found through PATH and FLYWHEEL_LEAN__PROJECT_DIR
    by in-process and subprocess runs alike."""
    from tests.fake_lean_audit import install

    project = tmp_path / "lean-project"
    project.mkdir()
    install(tmp_path / "audit-bin", project, tmp_path / "audit-tools.log")
    monkeypatch.setenv("PATH", f"{tmp_path / 'audit-bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FLYWHEEL_LEAN__PROJECT_DIR", str(project))


@pytest.fixture()
def model_server():
    server = OpenAIServer(respond)
    yield server
    server.close()


def _config(tmp_path, server, fake_repl, **prover):
    path = tmp_path / f"round-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump({
        "generator": {"backend": "openai", "model": "scripted", "base_url": server.url, "max_retries": 2, "request_timeout_s": 20},
        "lean": {"repl": fake_repl, "timeout_s": 10, "workers": 1},
        "autoformalize": {"few_shot": 1, "samples": 1},
        "prover": {"samples_per_side": 2, "passes": 2, "false_hyps_samples": 1} | prover,
        "run": {"train": False, "evaluate": False},  # tests/test_round_train.py runs those two stages
    }))
    return str(path)


@pytest.fixture()
def fresh_db(pg_url):
    """Another empty migrated database, for comparing two runs."""
    made = []

    def make() -> str:
        name = f"flywheel_round_{uuid.uuid4().hex[:10]}"
        admin = create_engine(make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        made.append(name)
        return url

    yield make
    admin = create_engine(make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for name in made:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def snapshot(url: str) -> dict:
    """Everything a round stores, without times and surrogate ids."""
    engine = create_engine(url)
    with engine.connect() as c:
        out = {
            "statements": sorted(c.execute(text("SELECT id, status, coalesce(drop_reason, ''), coalesce(grade, '') FROM statements")).all()),
            "attempts": sorted(c.execute(text("SELECT attempt_key, statement_id, side, round, verdict, proof FROM proof_attempts")).all()),
            "proofs": sorted(c.execute(text("SELECT statement_id, side, theorem, proof FROM proofs")).all()),
            "rounds": c.execute(text("SELECT number, finished_at IS NOT NULL FROM rounds ORDER BY 1")).all(),
        }
    engine.dispose()
    return out


def _ingest(url, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_DB_URL", url)
    assert main(["ingest", str(SAMPLE), "--source", "sample", "--map", "informal=informal_prefix", "--map", "id=name"]) == 0


def test_a_round_stores_every_outcome(store, pg_url, tmp_path, model_server, fake_repl, capsys, monkeypatch):
    _ingest(pg_url, monkeypatch)
    cfg = _config(tmp_path, model_server, fake_repl)
    assert main(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "runs")]) == 0
    snap = snapshot(pg_url)
    status = {}
    for _id, st, reason, _g in snap["statements"]:
        status[(st, reason)] = status.get((st, reason), 0) + 1
    assert status == {("proved", ""): 5, ("disproved", ""): 5, ("kept", ""): 5, ("dropped", "inconsistent_hypotheses"): 5}
    sides = sorted(side for _s, side, *_ in snap["proofs"])
    assert sides == ["false_hyps"] * 5 + ["negation"] * 5 + ["statement"] * 5
    assert len(snap["attempts"]) == 20 + 65  # hypotheses: 20; proving: 5x3 + 5x2 + 5x(2 passes x 2 sides x 2)
    assert (tmp_path / "runs" / "round-1" / "train.jsonl").read_text().count("\n") == 10  # false_hyps: on request
    engine = create_engine(pg_url)
    with engine.connect() as c:
        stages = c.execute(text("SELECT stages FROM rounds WHERE number = 1")).scalar_one()
    engine.dispose()
    table = {k: (v["counts"]["in"], v["counts"]["kept"], v["counts"]["dropped"]) for k, v in stages.items()}
    assert table["hypotheses"] == (20, 15, {"inconsistent_hypotheses": 5})
    assert table["prove"] == (15, 5, {})  # kept: open for the next round
    assert table["audit"] == (15, 15, {})  # every proof the REPL passed, audited outside it
    assert table["export"] == (10, 10, {})
    outcomes = stages["prove"]["counts"]["outcomes"]
    assert (outcomes["proved: statement"], outcomes["proved: negation"]) == (5, 5)
    capsys.readouterr()
    assert main(["status"]) == 0
    assert "inconsistent_hypotheses" in capsys.readouterr().out
    assert main(["--config", cfg, "run", "--resume"]) == 0  # nothing left to resume
    assert snapshot(pg_url) == snap
    assert main(["--config", cfg, "run", "--rounds", "1"]) == 0  # round 2: open statements tried again
    snap2 = snapshot(pg_url)
    assert snap2["rounds"] == [(1, True), (2, True)]
    assert sum(1 for a in snap2["attempts"] if a[3] == 2) == 5 * 2 * 2 * 2


def test_budget_exhausted_after_the_first_pass(store, pg_url, tmp_path, model_server, fake_repl, capsys, monkeypatch):
    _ingest(pg_url, monkeypatch)
    cfg = _config(tmp_path, model_server, fake_repl, wall_time_s=1e-9)
    assert main(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    import re

    assert re.search(r"prove\n(.*\n)*?  budget exhausted\s+5", out), out
    assert len(snapshot(pg_url)["attempts"]) == 20 + 5 * 3 + 5 * 2 + 5 * 4


def test_repl_crashes_mid_stage_are_recorded_and_survived(store, pg_url, tmp_path, model_server, fake_repl, monkeypatch):
    _ingest(pg_url, monkeypatch)
    monkeypatch.setenv("FAKE_REPL_CRASH_EVERY", "9")
    cfg = _config(tmp_path, model_server, fake_repl)
    assert main(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "runs")]) == 0
    snap = snapshot(pg_url)
    # every REPL dies on its 9th command: each check it took down ran again on a fresh process, so the
    # round stores what an uninterrupted one does
    assert not any(a[4] == "crashed" for a in snap["attempts"]) and len(snap["attempts"]) == 20 + 65
    assert snap["rounds"] == [(1, True)]


def _cli(args, url, env_extra=None, **popen):
    """The CLI in a process of its own on the store at url (None: the embedded one of FLYWHEEL_DATA_DIR)."""
    env = dict(os.environ, PYTHONPATH=str(REPO)) | (env_extra or {})
    env.pop("FLYWHEEL_DB_URL", None)
    env |= {"FLYWHEEL_DB_URL": url} if url else {}
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", *args], env=env, cwd=REPO,
                            **({"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} | popen))


def test_a_terminal_sees_a_progress_bar_per_stage(fresh_db, tmp_path, model_server, fake_repl, monkeypatch):
    from tests.terminal import stderr_on_terminal

    url = fresh_db()
    _ingest(url, monkeypatch)
    cfg = _config(tmp_path, model_server, fake_repl)
    env = dict(os.environ, FLYWHEEL_DB_URL=url, PYTHONPATH=str(REPO))
    code, text_seen = stderr_on_terminal([sys.executable, "-m", "orchestration.cli", "--config", cfg, "run", "--rounds",
                                          "1", "--out", str(tmp_path / "runs")], env, REPO)
    assert code == 0
    for bar in ("autoformalize:", "filter:", "hypotheses pass 1/1:", "prove pass 1/2:", "prove pass 2/2:"):
        assert bar in text_seen, (bar, text_seen[-2000:])
    assert "problem" in text_seen and "stmt" in text_seen


def _uninterrupted(fresh_db, cfg: str, out, monkeypatch, env_extra=None) -> dict:
    """What a whole round stores, run once on a fresh database: what an interrupted one must end with."""
    reference = fresh_db()
    _ingest(reference, monkeypatch)
    assert _cli(["--config", cfg, "run", "--rounds", "1", "--out", str(out)], reference, env_extra).wait(300) == 0
    return snapshot(reference)


@pytest.mark.slow
def test_kill_9_then_resume_equals_an_uninterrupted_run(fresh_db, tmp_path, model_server, fake_repl, monkeypatch):
    latency = {"FAKE_REPL_LATENCY_MS": "20-60"}
    cfg = _config(tmp_path, model_server, fake_repl)
    expected = _uninterrupted(fresh_db, cfg, tmp_path / "ref", monkeypatch, latency)
    rng = random.Random(int(os.environ.get("FLYWHEEL_TEST_SEED", "7")))
    # Each kill comes at a state the test sees: the round recorded (0), or that many attempts stored; however
    # loaded the machine, the kill lands there and not before the process began or after it ended.
    total = len(expected["attempts"])
    points = [(signal.SIGKILL, 0)] + [(signal.SIGKILL, rng.randrange(1, total - 10)) for _ in range(2)] + \
        [(signal.SIGINT, rng.randrange(1, total - 10))]
    for sig, point in points:
        url = fresh_db()
        _ingest(url, monkeypatch)
        proc = _cli(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "killed")], url, latency)
        wait_for(lambda: bool(snapshot(url)["rounds"]) and _attempts(url) >= point, proc,
                 f"recorded the round and stored {point} attempts")
        proc.send_signal(sig)
        code = proc.wait(60)
        if sig == signal.SIGINT:  # Ctrl-C: the work in flight is finished and stored, then exit 130
            assert code == 130, code
        for _ in range(2):  # a resume finishes the round; the next one finds nothing to do
            code = _cli(["--config", cfg, "run", "--resume", "--out", str(tmp_path / "killed")], url, latency).wait(300)
            assert code == 0
        assert snapshot(url) == expected, f"{sig.name} after {point} attempts"


@pytest.mark.slow
def test_kill_9_on_ray_then_resume_equals_a_serial_run(fresh_db, tmp_path, model_server, fake_repl, monkeypatch):
    latency = {"FAKE_REPL_LATENCY_MS": "50-150"}
    cfg = _config(tmp_path, model_server, fake_repl)
    reference, url = fresh_db(), fresh_db()
    for u in (reference, url):
        _ingest(u, monkeypatch)
    assert _cli(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "ref")], reference).wait(300) == 0
    ray_run = ["--config", cfg, "run", "--workers", "2", "--out", str(tmp_path / "ray")]
    proc = _cli([*ray_run, "--rounds", "1"], url, latency)
    wait_for(lambda: _attempts(url) > 0, proc, "stored an attempt")  # kill in the middle of proving
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    assert 0 < _attempts(url) < len(snapshot(reference)["attempts"])
    assert _cli([*ray_run, "--resume"], url, latency).wait(400) == 0
    assert snapshot(url) == snapshot(reference)


def test_postgresql_restarted_mid_round_stops_it_cleanly_and_resume_loses_and_repeats_nothing(
        embedded_data_dir, fresh_db, tmp_path, model_server, fake_repl, monkeypatch):
    from db.engine import start_embedded

    latency = {"FAKE_REPL_LATENCY_MS": "20-60"}
    cfg = _config(tmp_path, model_server, fake_repl)
    expected = _uninterrupted(fresh_db, cfg, tmp_path / "ref", monkeypatch, latency)
    monkeypatch.delenv("FLYWHEEL_DB_URL")
    assert main(["db", "upgrade"]) == 0  # the embedded server of embedded_data_dir, which the round runs on
    url = start_embedded(Path(embedded_data_dir))  # its socket, for the test's own looks
    _ingest(url, monkeypatch)
    monkeypatch.delenv("FLYWHEEL_DB_URL")
    run = ["--config", cfg, "run", "--out", str(tmp_path / "runs")]
    proc = _cli([*run, "--rounds", "1"], None, latency, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # prove has begun (the hypotheses stage before it stores false_hyps attempts): no other stage asks the model now
    wait_for(lambda: _attempts(url, ("statement", "negation")) >= 1, proc, "stored a proof attempt")
    model_server.answering.clear()
    # Prove's next request to the model is held, so the server goes down mid-prove (stopping it once half the
    # attempts were stored raced a prove whose last model answers were already in). A check in flight may still
    # decide that request's side and withdraw it, but prove cannot end while the model is held: 5 statements stay
    # open through both passes, and their requests (in pass 2 at the latest) are never withdrawn.
    wait_for(lambda: model_server.held >= 1, proc, "asked the model during prove")
    try:
        assert main(["db", "stop"]) == 0  # `pg_ctl stop -m fast`: every client is cut off mid-prove
    finally:
        model_server.answering.set()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    pgdata = Path(embedded_data_dir) / "pgdata"
    said = [line for line in err.splitlines() if line.startswith("flywheel: error:")]
    assert len(said) == 1 and "Traceback" not in err, err
    assert said[0].startswith(f"flywheel: error: round 1: prove: the database (embedded PostgreSQL in {pgdata}) failed: ")
    assert said[0].endswith("`flywheel run --resume` continues the round once it is back")
    for _ in range(2):  # the resume starts the server again and finishes the round; the next one finds nothing to do
        assert _cli([*run, "--resume"], None, latency).wait(300) == 0
    assert snapshot(url) == expected


def test_a_stage_that_fails_is_one_line_and_resume_runs_it_again(store, pg_url, tmp_path, model_server, fake_repl,
                                                                  monkeypatch):
    _ingest(pg_url, monkeypatch)
    cfg = _config(tmp_path, model_server, fake_repl)
    runs = tmp_path / "runs"
    mine = runs / "round-1"  # where the round's export goes holds a file of the user's: the export stage refuses
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    proc = _cli(["--config", cfg, "run", "--rounds", "1", "--out", str(runs)], pg_url, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "Traceback" not in err, err
    [said] = [line for line in err.splitlines() if line.startswith("flywheel: error:")]
    assert f"{mine} holds files that are not an export's (notes.txt)" in said
    assert (mine / "notes.txt").read_text() == "mine"
    before = snapshot(pg_url)
    assert before["rounds"] == [(1, False)]
    (mine / "notes.txt").unlink()
    assert main(["--config", cfg, "run", "--resume", "--out", str(runs)]) == 0
    after = snapshot(pg_url)
    assert after == before | {"rounds": [(1, True)]}  # only the export ran again
    assert (mine / "train.jsonl").read_text().count("\n") == 10


def _attempts(url: str, sides: tuple[str, ...] = ("statement", "negation", "false_hyps")) -> int:
    engine = create_engine(url)
    with engine.connect() as c:
        n = c.execute(text("SELECT count(*) FROM proof_attempts WHERE side = ANY(:sides)"),
                      {"sides": list(sides)}).scalar_one()
    engine.dispose()
    return n


@pytest.mark.slow
def test_serial_and_ray_store_the_same_round(fresh_db, tmp_path, model_server, fake_repl, monkeypatch):
    cfg = _config(tmp_path, model_server, fake_repl)
    serial, on_ray = fresh_db(), fresh_db()
    for url, workers in ((serial, "1"), (on_ray, "3")):
        _ingest(url, monkeypatch)
        code = _cli(["--config", cfg, "run", "--rounds", "1", "--workers", workers, "--out", str(tmp_path / workers)],
                    url).wait(400)
        assert code == 0, f"--workers {workers} exited {code}"
    assert snapshot(on_ray) == snapshot(serial)
    assert (tmp_path / "3" / "round-1" / "train.jsonl").read_bytes() == (tmp_path / "1" / "round-1" / "train.jsonl").read_bytes()


@pytest.mark.slow
def test_a_round_on_a_ray_cluster_named_by_address(fresh_db, tmp_path, model_server, fake_repl, monkeypatch):
    """`--ray-address`: the driver joins a running cluster (here one head node started with `ray start`)."""
    import shutil
    import socket
    import tempfile

    temp = tempfile.mkdtemp(prefix="fw-ray-", dir="/tmp")  # Ray's socket paths must stay under 108 bytes
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    # Token authentication, as `ray start` enables by default; the driver joins with the same token.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex * 2}
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0", **auth)
    started = subprocess.run([*ray_cli, "start", "--head", f"--port={port}", "--num-cpus=4", "--include-dashboard=false",
                              f"--temp-dir={temp}"], env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr
    try:
        cfg = _config(tmp_path, model_server, fake_repl)
        serial, cluster = fresh_db(), fresh_db()
        for url, extra in ((serial, []), (cluster, ["--workers", "2", "--ray-address", f"127.0.0.1:{port}"])):
            _ingest(url, monkeypatch)
            code = _cli(["--config", cfg, "run", "--rounds", "1", *extra, "--out", str(tmp_path / url[-6:])], url, auth).wait(400)
            assert code == 0, f"{extra} exited {code}"
        assert snapshot(cluster) == snapshot(serial)
        # Without the token the driver is refused, and says how to join.
        lost = subprocess.run([sys.executable, "-m", "orchestration.cli", "--config", cfg, "run", "--rounds", "1",
                               "--workers", "2", "--ray-address", f"127.0.0.1:{port}"], cwd=REPO, capture_output=True,
                              text=True, timeout=300, env=dict(os.environ, FLYWHEEL_DB_URL=cluster, PYTHONPATH=str(REPO)))
        assert lost.returncode != 0 and "cannot join the Ray cluster" in lost.stderr and "RAY_AUTH_MODE=token" in lost.stderr
        assert "Traceback" not in lost.stderr
    finally:
        subprocess.run([*ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_local_lean_workers_always_fit_in_local_ray():
    from orchestration.engines import local_cpus_per_worker, local_memory_per_worker

    for cpus in (1, 2, 16):
        for workers in (1, 2, 3, 7, 8, 64):
            each = local_cpus_per_worker(workers, cpus)
            assert 0 < each <= 0.5 and each * workers + 0.25 <= cpus, (cpus, workers, each)
    gib, wanted = 2**30, 6 * 2**30
    for available in (1 * gib, 16 * gib, 500 * gib):
        for workers in (1, 2, 3, 7, 8, 64):
            each = local_memory_per_worker(workers, wanted, available)
            assert 0 < each <= wanted and each * workers <= available, (available, workers, each)
    assert local_memory_per_worker(8, wanted, 500 * gib) == wanted


def _formalized(url: str) -> dict[str, int]:
    """Problems with statements, by source."""
    engine = create_engine(url)
    with engine.connect() as c:
        rows = c.execute(text("SELECT p.source, count(DISTINCT p.id) FROM statements s JOIN problems p ON p.id = s.problem_id"
                              " GROUP BY 1")).all()
    engine.dispose()
    return dict(rows)


def test_a_pilot_round_formalizes_at_most_limit_problems_of_its_source(store, pg_url, tmp_path, model_server, fake_repl,
                                                                       capsys, monkeypatch):
    _ingest(pg_url, monkeypatch)
    assert main(["ingest", str(SAMPLE), "--source", "other", "--map", "informal=informal_prefix", "--map", "id=name"]) == 0
    cfg = _config(tmp_path, model_server, fake_repl)
    assert main(["--config", cfg, "run", "--rounds", "1", "--limit", "2", "--source", "sample",
                 "--out", str(tmp_path / "runs")]) == 0
    assert "pilot: at most 2 new problems a round, of source sample" in capsys.readouterr().out
    assert _formalized(pg_url) == {"sample": 2}
    assert snapshot(pg_url)["rounds"] == [(1, True)]
    assert main(["--config", cfg, "run", "--rounds", "1", "--source", "nowhere"]) == 2
    assert "--source nowhere: no problems were ingested with that source (known: other, sample)" in capsys.readouterr().err


def test_resume_keeps_the_pilot_its_round_began_with(store, pg_url, tmp_path, model_server, fake_repl, monkeypatch):
    _ingest(pg_url, monkeypatch)
    cfg = _config(tmp_path, model_server, fake_repl)
    # A pilot of 3 killed in autoformalize after its first problem: the round records the pilot, one problem is done.
    assert main(["--config", cfg, "autoformalize", "--round", "1", "--limit", "1", "--source", "sample"]) == 0
    engine = create_engine(pg_url)
    with engine.begin() as c:
        c.execute(text("UPDATE rounds SET config = config || '{\"pilot\": {\"limit\": 3, \"source\": \"sample\"}}',"
                       " stages = jsonb_set(stages, '{autoformalize,state}', '\"running\"') WHERE number = 1"))
    engine.dispose()
    assert main(["--config", cfg, "run", "--resume", "--out", str(tmp_path / "runs")]) == 0
    assert _formalized(pg_url) == {"sample": 3}
    assert snapshot(pg_url)["rounds"] == [(1, True)]


def _stage_states(capsys) -> list[str]:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    table = out.split("rounds:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split("|")[2].strip() for line in table.splitlines()[2:] if line.count("|") >= 4]


def test_status_tells_stopped_from_running_and_died(fresh_db, tmp_path, model_server, fake_repl, capsys, monkeypatch):
    url = fresh_db()
    _ingest(url, monkeypatch)
    cfg = _config(tmp_path, model_server, fake_repl)
    run = ["--config", cfg, "run", "--out", str(tmp_path / "runs")]
    slow = {"FAKE_REPL_LATENCY_MS": "100-200"}
    proc = _cli([*run, "--rounds", "1"], url, slow)
    wait_for(lambda: _attempts(url) > 0, proc, "stored an attempt")
    assert f"running (pid {proc.pid})" in _stage_states(capsys)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    states = _stage_states(capsys)
    assert "stopped" in states and not any(s.startswith(("running", "died")) for s in states), states
    before = _attempts(url)
    proc = _cli([*run, "--resume"], url, slow)
    wait_for(lambda: _attempts(url) > before, proc, "stored an attempt after resuming")
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    states = _stage_states(capsys)
    assert f"died (pid {proc.pid} is gone; `flywheel run --resume` continues)" in states, states


def test_a_unit_the_store_refuses_is_left_open_and_the_round_goes_on(store, pg_url, tmp_path, model_server, fake_repl,
                                                                      monkeypatch):
    from sqlalchemy.exc import DataError

    import db.proofs

    _ingest(pg_url, monkeypatch)
    real = db.proofs.save_results
    refused: set[str] = set()

    def save_results(session, results, round_):
        for r in results:  # the store refuses the first unit of the prove stage, whatever batch it is in
            if r.statement is not None and r.attempts and r.attempts[0].side.value == "statement":
                if not refused or r.statement.id in refused:
                    refused.add(r.statement.id)
                    raise DataError("INSERT ...", {}, Exception("value too long for type character varying"))
        return real(session, results, round_)

    monkeypatch.setattr(db.proofs, "save_results", save_results)
    cfg = _config(tmp_path, model_server, fake_repl)
    assert main(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "runs")]) == 0
    engine = create_engine(pg_url)
    with engine.connect() as c:
        stages = c.execute(text("SELECT stages FROM rounds WHERE number = 1")).scalar_one()
        (status,) = c.execute(text("SELECT status FROM statements WHERE id = :i"), {"i": next(iter(refused))}).one()
    engine.dispose()
    assert stages["prove"]["counts"]["outcomes"]["not stored (left open)"] >= 1
    assert status == "kept"  # open: tried again next round
    assert stages["export"]["state"] == "done"
