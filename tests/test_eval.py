"""pass@k by hand, and evaluations with the scripted generator and the fake REPL: known counts, stored per
problem, resumed without repeating a problem (after kill -9 too), the --out JSON, and pass@k in `flywheel status`."""

import json
import threading

import pytest

from flywheel.config import Config, EvalConfig
from flywheel.errors import ConfigError
from prover_loop.evaluate import benchmark_statements, mean_pass_at_k, parse_ks, pass_at_k, source_of
from tests.doubles import ScriptedGenerator, prompt_text

FAIL = "  omega -- fake:error=omega could not prove the goal\n```"


def test_pass_at_k_against_hand_computed_values():
    assert pass_at_k(5, 0, 1) == 0.0  # c = 0
    assert pass_at_k(5, 5, 1) == 1.0  # c = n
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(10, 1, 8) == pytest.approx(1 - 9 / 45)  # 1 - C(9,8)/C(10,8)
    assert pass_at_k(5, 3, 3) == 1.0  # k > n - c: every draw of 3 holds a correct one
    assert pass_at_k(32, 1, 32) == 1.0
    assert pass_at_k(32, 4, 8) == pytest.approx(1 - (24 * 23 * 22 * 21) / (32 * 31 * 30 * 29))  # C(28,8)/C(32,8)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)
    assert mean_pass_at_k([(4, 0), (4, 4)], [1, 4, 8]) == {"1": 0.5, "4": 0.5}  # k > n is left out


def test_k_is_checked_at_the_boundary():
    assert parse_ks("8, 1,32", 32) == [1, 8, 32]
    for bad in ("0", "1,33", "one"):
        with pytest.raises(ConfigError, match="--k"):
            parse_ks(bad, 32)


def test_benchmark_statements_are_the_shipped_ones():
    valid = benchmark_statements("minif2f", "valid")
    assert len(valid) == 244 and all(st.header.startswith("import Mathlib") for st in valid)
    assert valid[0].name == "amc12a_2019_p21" and valid[0].text.endswith(":= by sorry")
    proofnet = benchmark_statements("proofnet", "test", limit=3)
    assert len(proofnet) == 3 and source_of("proofnet", proofnet[0].name) is None
    assert source_of("minif2f", "mathd_algebra_10") == "mathd_algebra" and source_of("minif2f", "amc12a_2019_p21") == "amc"
    with pytest.raises(ConfigError):
        benchmark_statements("minif2f", "train")


N = 4
CORRECT = [0, 1, 3, 4, 2, 0]  # proofs that succeed, of N, for the first problems of miniF2F valid


def _script(names: list[str]):
    """Problem j's samples 0..CORRECT[j]-1 prove (the fake REPL passes a proof with no error marker)."""

    def script(req):
        j = next(i for i, name in enumerate(names) if f"theorem {name}" in prompt_text(req))
        return [f"  -- sample {i}\n  norm_num\n```" if i < CORRECT[j] else f"  -- sample {i}\n{FAIL}" for i in range(req.n)]

    return script


@pytest.fixture()
def engines(store, lean_cfg, monkeypatch):
    from orchestration.engines import open_verifier

    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")  # no real answer of the benchmark replayed: the rules only
    names = [st.name for st in benchmark_statements("minif2f", "valid", limit=len(CORRECT))]
    generator = ScriptedGenerator(_script(names), model="ckpt/round-1")
    with open_verifier(lean_cfg, store) as verifier:
        yield generator, verifier.check, names


def _eval(store, generator, check, limit, stop=None):
    from orchestration.eval_stage import run_eval

    ev = EvalConfig(benchmark="minif2f", split="valid", n=N, k=[1, 2, 4], limit=limit)
    return run_eval(store, Config(), ev, generator, check, 2, "ckpt/round-1", stop=stop)


def test_an_evaluation_gives_the_known_counts(store, engines):
    generator, check, names = engines
    summary, counts = _eval(store, generator, check, len(CORRECT))
    assert summary["complete"] and summary["n"] == N
    assert {p["name"]: p["correct"] for p in summary["problems"]} == dict(zip(names, CORRECT))
    expected = {str(k): sum(pass_at_k(N, c, k) for c in CORRECT) / len(CORRECT) for k in (1, 2, 4)}
    assert summary["pass_at_k"] == pytest.approx(expected)
    assert summary["pass_at_k"]["4"] == pytest.approx(4 / 6)  # problems with any correct sample
    assert sum(v["problems"] for v in summary["by_source"].values()) == len(CORRECT)
    assert counts.outcomes["samples"] == N * len(CORRECT)
    from sqlalchemy import text

    with store.read_only() as c:
        attempts = c.execute(text("SELECT problem, verdict, model FROM eval_attempts")).all()
        finished = c.execute(text("SELECT pass_at_k, finished_at IS NOT NULL FROM evaluations")).one()
    assert len(attempts) == N * len(CORRECT)  # no early stop: every sample verified
    assert sum(1 for a in attempts if a.verdict == "proved") == sum(CORRECT)
    assert {a.model for a in attempts} == {"ckpt/round-1"}
    assert finished[1] and finished[0] == pytest.approx(expected)
    # only the statement side: no negation was ever asked for
    assert all("¬" not in prompt_text(r).rsplit("```lean4", 1)[-1] for r in generator.requests)


def test_a_resumed_evaluation_repeats_no_problem(store, engines):
    generator, check, names = engines
    stop = threading.Event()
    first, _ = _eval(store, generator, check, 3)
    assert not first["complete"] or len(first["problems"]) == 3
    asked = len(generator.requests)
    assert asked == 3
    summary, counts = _eval(store, generator, check, len(CORRECT))  # the same evaluation, three problems more
    assert counts.outcomes["resumed: already stored"] == 3
    later = [prompt_text(r) for r in generator.requests[asked:]]
    assert len(later) == 3 and not any(f"theorem {name} " in p for name in names[:3] for p in later)
    assert {p["name"]: p["correct"] for p in summary["problems"]} == dict(zip(names, CORRECT))
    again, counts = _eval(store, generator, check, len(CORRECT), stop)  # everything stored: nothing asked
    assert len(generator.requests) == asked + 3 and again["pass_at_k"] == summary["pass_at_k"]


def _scripted(problems: int):
    """The first problems of miniF2F valid, and a model server's answers: CORRECT[j] of N samples prove problem j."""
    names = [st.name for st in benchmark_statements("minif2f", "valid", limit=problems)]

    def respond(prompt, i):
        j = next(k for k, name in enumerate(names) if f"theorem {name}" in prompt)
        return f"  -- {i}\n  norm_num\n```" if i < CORRECT[j] else f"  -- {i}\n{FAIL}"

    return names, respond


def test_eval_cli_writes_the_json_and_status_shows_pass_at_k(store, pg_url, tmp_path, fake_repl, monkeypatch, capsys):
    import yaml

    from orchestration.cli import main
    from tests.doubles import OpenAIServer

    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    names, respond = _scripted(3)

    cfg = tmp_path / "eval.yaml"
    with OpenAIServer(respond) as server:
        cfg.write_text(yaml.safe_dump({"generator": {"backend": "openai", "model": "scripted", "base_url": server.url},
                                       "lean": {"repl": fake_repl, "timeout_s": 10}}))
        out = tmp_path / "eval.json"
        args = ["--config", str(cfg), "eval", "--benchmark", "minif2f", "--split", "valid", "--n", "4", "--k", "1,4",
                "--limit", "3", "--out", str(out)]
        assert main(args) == 0
    data = json.loads(out.read_text())
    assert {k: data[k] for k in ("checkpoint", "benchmark", "split", "n")} == {
        "checkpoint": "scripted", "benchmark": "minif2f", "split": "valid", "n": 4}
    assert [{k: p[k] for k in ("name", "n", "correct")} for p in data["problems"]] == sorted(
        [{"name": n, "n": 4, "correct": c} for n, c in zip(names, CORRECT)], key=lambda p: p["name"])
    # a sample is one attempt of one check; each stored with what it spent
    assert all([a["checks"] for a in p["spent"]] == [1] * 4 for p in data["problems"])
    assert [sum(a["proved"] for a in p["spent"]) for p in data["problems"]] == [p["correct"] for p in data["problems"]]
    assert data["pass_at_k"] == pytest.approx({"1": (0 + 0.25 + 0.75) / 3, "4": 2 / 3})
    assert all(0 <= v <= 1 for v in data["pass_at_k"].values())
    assert main(["eval", "--checkpoint", "999", "--n", "4", "--k", "1"]) == 2  # no such checkpoint row
    assert "no checkpoint with that id" in capsys.readouterr().err


def _stored_evaluation(store) -> dict:
    """What an evaluation stores, without times, ids and cache hits (a rerun's checks may hit the cache)."""
    from sqlalchemy import text

    with store.engine.connect() as c:
        return {
            "evaluations": c.execute(text("SELECT key, checkpoint, benchmark, split, n, ks, problems, pass_at_k, by_source, "
                                          "budgets, finished_at IS NOT NULL FROM evaluations")).all(),
            "problems": sorted(c.execute(text("SELECT problem, source, n, correct, spent FROM eval_problems")).all()),
            "attempts": sorted(c.execute(text("SELECT problem, sample, attempt, model, proof, verdict, reason, strategy, "
                                              "tokens FROM eval_attempts")).all()),
        }


@pytest.mark.postgres
def test_kill_9_in_eval_then_the_same_command_ends_as_an_uninterrupted_one(store, pg_url, tmp_path, fake_repl):
    import os
    import subprocess
    import sys

    import yaml
    from sqlalchemy import text

    from tests.conftest import REPO
    from tests.doubles import OpenAIServer
    from tests.states import wait_for

    _, respond = _scripted(len(CORRECT))

    cfg, out = tmp_path / "eval.yaml", tmp_path / "eval.json"
    env = dict(os.environ, FLYWHEEL_DB_URL=pg_url, PYTHONPATH=str(REPO), FAKE_REPL_NO_REPLAY="1",
               FAKE_REPL_LATENCY_MS="50-150")
    cli = [sys.executable, "-m", "orchestration.cli", "--config", str(cfg), "eval", "--benchmark", "minif2f", "--split",
           "valid", "--n", str(N), "--k", f"1,{N}", "--limit", str(len(CORRECT)), "--out", str(out)]
    with OpenAIServer(respond) as server:
        cfg.write_text(yaml.safe_dump({"generator": {"backend": "openai", "model": "scripted", "base_url": server.url},
                                       "lean": {"repl": fake_repl, "timeout_s": 10}}))
        assert subprocess.run(cli, env=env, cwd=REPO, capture_output=True, timeout=300).returncode == 0
        expected, written = _stored_evaluation(store), json.loads(out.read_text())
        with store.engine.begin() as c:
            c.execute(text("TRUNCATE evaluations, eval_problems, eval_attempts, verdict_cache RESTART IDENTITY"))
        out.unlink()
        proc = subprocess.Popen(cli, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: len(_stored_evaluation(store)["problems"]) >= 2, proc, "stored two problems")
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait(60)
        assert 2 <= len(_stored_evaluation(store)["problems"]) < len(CORRECT) and not out.exists()
        again = subprocess.run(cli, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resumed: already stored" in again.stdout  # the problems stored before the kill were not asked again
    assert _stored_evaluation(store) == expected and json.loads(out.read_text()) == written
