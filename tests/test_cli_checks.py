"""The CLI refuses what cannot work before any work (config, Lean, the model, output paths), keeps what it
finished when interrupted, and ends quietly when its reader goes away."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from orchestration.cli import build_parser, main, walk_parsers
from tests.conftest import REPO
from tests.states import wait_for

_NO_DEFAULT = (None, False, [], argparse.SUPPRESS)


def test_every_option_says_what_it_does_and_shows_its_default():
    for parser in walk_parsers(build_parser()):
        shown = " ".join(parser.format_help().split())
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            what = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), f"{what}: no help text"
            if action.option_strings and action.default not in _NO_DEFAULT:
                assert f"default: {action.default}" in shown, f"{what}: default {action.default!r} not shown"


def test_config_is_taken_after_the_sub_command(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("prover:\n  negation_form: sideways\n")
    assert main(["status", "--config", str(bad)]) == 2
    assert f"{bad}: prover.negation_form: expected one of hyps, forall" in capsys.readouterr().err
    assert main(["lean", "check", "in.jsonl", "--out", "o.jsonl", "--config", str(bad)]) == 2
    assert f"{bad}: prover.negation_form" in capsys.readouterr().err


def _rounds(store) -> int:
    with store.engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM rounds")).scalar()


@pytest.fixture()
def run_config(tmp_path, fake_repl):
    """Writes a config that could start a run but for what the test changes; returns its path."""
    def write(**sections) -> str:
        tree = {"generator": {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:1/v1"},
                "lean": {"repl": fake_repl}}
        for section, values in sections.items():
            tree[section] = (tree.get(section) or {}) | values
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(tree))
        return str(path)

    return write


@pytest.mark.parametrize("sections, env, named", [
    ({"prover": {"negation_form": "sideways"}}, {}, "prover.negation_form"),
    ({"filters": {"min_grade": "great"}}, {}, "filters.min_grade"),
    ({"filters": {"benchmarks": ["minif2f", "putnam"]}}, {}, "filters.benchmarks[1]"),
    ({"lean": {"rss_limit_mb": 9000}}, {}, "lean.rss_limit_mb"),
    ({}, {"FLYWHEEL_PROVER__SAMPLES_PER_SIDE": "-3"}, "FLYWHEEL_PROVER__SAMPLES_PER_SIDE=-3"),
])
def test_a_bad_config_records_no_round(store, run_config, tmp_path, monkeypatch, capsys, sections, env, named):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cfg = run_config(**sections)
    assert main(["run", "--config", cfg, "--out", str(tmp_path / "runs")]) == 2
    assert named in capsys.readouterr().err
    assert _rounds(store) == 0


def test_run_checks_lean_then_the_model_before_recording_a_round(store, run_config, tmp_path, monkeypatch, capsys):
    out = ["--out", str(tmp_path / "runs")]
    no_lean = run_config(lean={"repl": str(tmp_path / "no-repl")})
    assert main(["run", "--config", no_lean, *out]) == 2
    assert f"lean.repl (FLYWHEEL_LEAN_REPL): {tmp_path / 'no-repl'} not found" in capsys.readouterr().err
    assert main(["run", "--config", run_config(), *out]) == 2  # nothing listens on port 1
    assert "generator.base_url http://127.0.0.1:1/v1: the server does not answer" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = run_config(generator={"backend": "hf", "model": "flywheel-tests/no-such-model"})
    assert main(["run", "--config", hub, *out]) == 2
    err = capsys.readouterr().err
    assert "'flywheel-tests/no-such-model' is not a local path and not in the hub cache, and HF_HUB_OFFLINE" in err
    local = run_config(generator={"backend": "hf", "model": str(tmp_path / "no-model")})
    assert main(["run", "--config", local, *out]) == 2
    assert f"generator.model: no such directory {tmp_path / 'no-model'}" in capsys.readouterr().err
    assert _rounds(store) == 0


def test_run_names_every_missing_piece_with_its_fix_before_recording_a_round(store, run_config, tmp_path,
                                                                            monkeypatch, capsys):
    """A base install on a small disk: no train extra, no vLLM, too little room for the checkpoints. All of
    it is named at once, each with its fix, before a round is recorded; the audit's missing tools only warn."""
    for module in ("trl", "vllm"):  # as on a base install: `import trl` raises ModuleNotFoundError
        monkeypatch.setitem(sys.modules, module, None)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with open(model / "model.safetensors", "wb") as f:
        f.truncate(shutil.disk_usage(tmp_path).free // 5)  # sparse: weights whose checkpoints outgrow the disk
    cfg = run_config(generator={"backend": "vllm", "model": str(model)}, run={"train": True},
                     train={"out_dir": str(tmp_path / "checkpoints")}, lean={"project_dir": str(tmp_path / "none")})
    assert main(["run", "--config", cfg, "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "3 things this run needs are missing, so no round is recorded" in err, err
    assert "the train stage (run.train) imports trl: pip install -e '.[train]'" in err
    assert "the vllm backend (formalizer, grader, prover, sketcher) needs vllm: pip install -e '.[gpu]'" in err
    assert f"train.out_dir {tmp_path / 'checkpoints'}: " in err and "checkpoints need about" in err
    assert "note: the audit stage cannot audit: " in err and "wait, unaudited" in err
    assert "Traceback" not in err and _rounds(store) == 0
    # trl back and no train stage: the one piece still missing is named alone
    monkeypatch.delitem(sys.modules, "trl")
    cfg = run_config(generator={"backend": "vllm", "model": str(model)}, run={"train": False})
    assert main(["run", "--config", cfg, "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "missing, so no round" not in err and "needs vllm: pip install" in err and "trl" not in err
    assert _rounds(store) == 0


def test_output_paths_are_checked_before_the_work(store, fake_repl, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "statement": "theorem a : 1 = 1 := by sorry", "proof": "by rfl"}) + "\n")
    missing = tmp_path / "missing" / "o.jsonl"
    assert main(["lean", "check", str(src), "--out", str(missing), "--no-store"]) == 2
    assert f"--out {missing}: the folder {missing.parent} does not exist" in capsys.readouterr().err
    a_file = tmp_path / "a-file"
    a_file.write_text("mine\n")
    assert main(["export", "--out", str(a_file)]) == 2
    assert f"--out {a_file}: is a file, not a folder" in capsys.readouterr().err
    assert main(["run", "--out", str(a_file / "runs"), "--config", "/dev/null"]) == 2
    assert f"{a_file} is a file, so the folder cannot be made" in capsys.readouterr().err
    assert a_file.read_text() == "mine\n" and _rounds(store) == 0


def _cli(*args: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", *args], env=env, cwd=REPO, **popen)


def test_ctrl_c_in_lean_check_keeps_the_finished_lines(fake_repl, tmp_path, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    src, out, gate = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "gate"
    # three proofs go through; the rest hold in the REPL until the gate opens
    src.write_text("".join(json.dumps({"id": f"p{i}", "statement": f"theorem t{i} : {i} = {i} := by sorry",
                                       "proof": "by rfl" + (f" -- fake:wait={gate}" if i >= 3 else "")}) + "\n"
                           for i in range(200)))
    proc = _cli("lean", "check", str(src), "--out", str(out), "--no-store", "--workers", "2",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(proc.stderr), daemon=True)
    reader.start()
    wait_for(lambda: out.exists() and out.read_text().count("\n") == 3 and Path(f"{gate}.waiting").exists(), proc,
              "wrote three lines with the fourth check held")
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: any("interrupted:" in line for line in said), proc, "said it was interrupted")
    gate.touch()  # the checks in flight end (a real one within lean.timeout_s); none of them is written now
    assert proc.wait(60) == 130
    reader.join(10)
    err = "".join(said)
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == ["p0", "p1", "p2"], err  # the finished lines, in input order, each once
    assert "interrupted: wrote the 3 of 200 lines finished" in err


def _kill_at(gate: Path, proc: subprocess.Popen, killed: list[int]) -> None:
    """SIGKILL, as the kernel's OOM killer does, the REPL held at gate, once a REPL not killed yet is there."""
    said = Path(f"{gate}.waiting")
    wait_for(lambda: said.exists() and int(said.read_text()) not in killed, proc, f"a fresh REPL held at {gate.name}")
    killed.append(int(said.read_text()))
    os.kill(killed[-1], signal.SIGKILL)


def _verdict_rows(store) -> dict:
    with store.engine.connect() as c:
        return {r[0]: tuple(r[1:]) for r in c.execute(text("SELECT key, verdict, reason, messages, time_s FROM verdict_cache"))}


@pytest.mark.postgres
def test_a_repl_killed_mid_check_is_a_crash_and_the_next_checks_go_on(fake_repl, store, tmp_path, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)

    def lines(path: Path, proofs: dict[str, str]) -> Path:
        path.write_text("".join(json.dumps({"id": k, "statement": f"theorem {k} : {len(k)} = {len(k)} := by sorry",
                                            "proof": v}) + "\n" for k, v in proofs.items()))
        return path

    assert main(["lean", "check", str(lines(tmp_path / "before.jsonl", {"b0": "by rfl", "b1": "by simp"})),
                 "--out", str(tmp_path / "before.out.jsonl")]) == 0
    before = _verdict_rows(store)
    twice, once = tmp_path / "twice", tmp_path / "once"
    src = lines(tmp_path / "in.jsonl", {"p0": "by rfl", "p1": f"by rfl -- fake:wait={twice}",
                                        "p2": f"by rfl -- fake:wait={once}", "p3": "by simp"})
    out = tmp_path / "out.jsonl"
    proc = _cli("lean", "check", str(src), "--out", str(out), "--workers", "1", stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
    killed: list[int] = []
    _kill_at(twice, proc, killed)  # p1's REPL dies, and so does the fresh one its check is retried on
    _kill_at(twice, proc, killed)
    _kill_at(once, proc, killed)  # p2's dies once; the retry on a fresh REPL finishes
    once.touch()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["id"], r["verdict"]) for r in rows] == [("p0", "proved"), ("p1", "crashed"), ("p2", "proved"),
                                                       ("p3", "proved")]
    assert "lean: 4 checks, 3 restarts" in stdout and len(set(killed)) == 3
    after = _verdict_rows(store)
    assert {k: after[k] for k in before} == before  # what was stored before is untouched
    assert "crashed" not in {v[0] for v in after.values()}  # a crash is never a verdict to keep
    twice.touch()  # the same check again, its REPL left alone this time: checked afresh, not a stored crash
    assert main(["lean", "check", str(src), "--out", str(out)]) == 0
    assert [json.loads(x)["verdict"] for x in out.read_text().splitlines()] == ["proved"] * 4


def test_lean_check_shows_progress_on_a_terminal(fake_repl, tmp_path, monkeypatch):
    from tests.terminal import stderr_on_terminal

    monkeypatch.setenv("FAKE_REPL_LATENCY_MS", "200")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "statement": f"theorem t{i} : {i} = {i} := by sorry",
                                       "proof": "by rfl"}) + "\n" for i in range(5)))
    code, drawn = stderr_on_terminal(
        [sys.executable, "-m", "orchestration.cli", "lean", "check", str(src), "--out", str(tmp_path / "out.jsonl"),
         "--no-store"], dict(os.environ, PYTHONPATH=str(REPO), FLYWHEEL_LEAN_REPL=fake_repl), REPO)
    assert code == 0
    assert "lean check:" in drawn and "/5 " in drawn and "proof" in drawn


def test_sql_into_a_closed_pipe_ends_quietly(store):
    proc = _cli("sql", "SELECT g, repeat('x', 50) AS pad FROM generate_series(1, 200000) AS g", "--format", "csv",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"g,pad\n"  # what `| head -1` reads before it goes away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141 and err == ""


def test_ctrl_c_cancels_a_running_query(store):
    proc = _cli("sql", "SELECT pg_sleep(60)", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # this test's database only: another clone's run of this test on the same server sends the same query
    running = ("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active' "
               "AND datname = current_database()")
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:  # no stats snapshot
        wait_for(lambda: c.execute(text(running)).scalar() == 1, proc, "ran the query")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)  # not the 60 seconds the query would take
        assert proc.returncode == 130 and b"Traceback" not in err
        assert c.execute(text(running)).scalar() == 0  # the server stopped it, not only the client


def test_json_refuses_columns_that_share_a_name(store, capsys):
    assert main(["sql", "SELECT 1 AS n, 2 AS n", "--format", "json"]) == 2
    assert "columns share a name (n)" in capsys.readouterr().err
    assert main(["sql", "SELECT 1 AS n, 2 AS m", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 1, "m": 2}]


def test_the_stages_check_lean_and_the_model_before_loading_it(store, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", str(tmp_path / "no-repl"))
    model = ["--backend", "hf", "--model", "flywheel-tests/no-such-model"]
    assert main(["autoformalize", *model]) == 2
    assert "not in the hub cache, and HF_HUB_OFFLINE is set" in capsys.readouterr().err
    assert main(["filter", *model]) == 2  # Lean first: the grading model is not looked at yet
    assert f"{tmp_path / 'no-repl'} not found" in capsys.readouterr().err
