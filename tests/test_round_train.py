"""`flywheel run --rounds 2` with the train and evaluate stages, end to end with doubles (the scripted model
server, the fake REPL, the training double): round 2 proves with the checkpoint round 1 trained, each round's
pass@k is stored and shown, and both rounds are in the report."""

import json
import re
import uuid

import pytest
import yaml
from sqlalchemy import create_engine, text

from orchestration.cli import main
from tests import train_double
from tests.doubles import OpenAIServer
from tests.round_model import respond as round_respond
from tests.test_round import _ingest, audit_toolchain  # noqa: F401 (the audit stage's fake toolchain, autouse)

pytestmark = pytest.mark.postgres
BENCH = ["amc12a_2019_p21", "amc12a_2015_p10"]  # the first two problems of miniF2F valid


def respond(prompt: str, i: int) -> str:
    """Benchmark prompts: the first problem is proved by sample 0 only, the second never."""
    if "theorem amc12a_2019_p21" in prompt:
        return f"  -- {i}\n  norm_num\n```" if i == 0 else f"  -- {i}\n  omega -- fake:error=no\n```"
    if "theorem amc12a_2015_p10" in prompt:
        return f"  -- {i}\n  omega -- fake:error=no\n```"
    return round_respond(prompt, i)


@pytest.fixture()
def server():
    s = OpenAIServer(respond)
    yield s
    s.close()


def _config(tmp_path, server, fake_repl) -> str:
    path = tmp_path / f"round-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump({
        "generator": {"backend": "openai", "model": "scripted", "base_url": server.url, "max_retries": 2},
        "lean": {"repl": fake_repl, "timeout_s": 10, "workers": 1},
        "autoformalize": {"few_shot": 1, "samples": 1},
        "prover": {"samples_per_side": 2, "passes": 1, "false_hyps_samples": 1},
        "eval": {"benchmark": "minif2f", "split": "valid", "n": 2, "k": [1, 2], "limit": 2},
        "train": {"out_dir": str(tmp_path / "checkpoints")},
    }))
    return str(path)


def _two_rounds(url, tmp_path, server, fake_repl, monkeypatch, workers: str) -> None:
    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    monkeypatch.setattr("orchestration.train_stage.default_trainer", lambda: train_double.fake_train_sft)
    _ingest(url, monkeypatch)
    cfg = _config(tmp_path, server, fake_repl)
    assert main(["--config", cfg, "run", "--rounds", "2", "--workers", workers, "--out", str(tmp_path / "runs")]) == 0
    engine = create_engine(url)
    with engine.connect() as c:
        models = dict(c.execute(text("SELECT round, array_agg(DISTINCT model) FROM proof_attempts GROUP BY round")).all())
        checkpoints = c.execute(text("SELECT round, path, base_model FROM checkpoints ORDER BY round")).all()
        evals = c.execute(text("SELECT round, checkpoint, pass_at_k FROM evaluations ORDER BY round")).all()
        stages = c.execute(text("SELECT stages FROM rounds WHERE number = 2")).scalar_one()
    engine.dispose()
    round1 = str(tmp_path / "checkpoints" / "round-1" / "model")
    # every round trains afresh from the base model on the pairs of all rounds so far
    assert [tuple(c) for c in checkpoints] == [(1, round1, "scripted"), (2, str(tmp_path / "checkpoints" / "round-2" / "model"), "scripted")]
    assert models[1] == ["scripted"] and models[2] == [round1]  # round 2 proves with round 1's checkpoint
    assert [(e.round, e.checkpoint) for e in evals] == [(1, round1), (2, checkpoints[1].path)]
    for e in evals:
        assert e.pass_at_k == pytest.approx({"1": 0.25, "2": 0.5})  # problem 1: 1 of 2 correct; problem 2: none
    assert stages["train"]["state"] == "done" and stages["evaluate"]["state"] == "done"


def test_two_rounds_train_and_evaluate_and_report(store, pg_url, tmp_path, server, fake_repl, monkeypatch, capsys):
    _two_rounds(pg_url, tmp_path, server, fake_repl, monkeypatch, "1")
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"pass@k by round:\n.*\n.*\n1 .*pass@1 25\.0%, pass@2 50\.0%", out), out
    report = tmp_path / "report"
    assert main(["report", "--out", str(report)]) == 0
    data = json.loads((report / "report.json").read_text())
    assert [r["round"] for r in data["rounds"]] == [1, 2]
    assert [e["round"] for e in data["pass_at_k"]] == [1, 2]
    assert [len(c["loss"]) for c in data["training"]] == [5, 5]
    assert data["rounds"][0]["funnel"]["problems"] == 20 and data["rounds"][0]["throughput"]["attempts"] > 0
    page = (report / "index.html").read_text()
    for png in re.findall(r'<img src="([^"]+)"', page):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page  # opens with no network


def test_killed_in_train_resumes(store, pg_url, tmp_path, server, fake_repl, monkeypatch):
    """A trainer that dies mid-stage leaves the stage unfinished; --resume trains again into the same folder
    (where a real trainer finds its last save) and the round goes on to evaluate."""
    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    _ingest(pg_url, monkeypatch)
    cfg = _config(tmp_path, server, fake_repl)

    def dying(data_dir, train_cfg, out_dir, base_model, resume=False):
        (out_dir / "trainer" / "checkpoint-2").mkdir(parents=True)
        raise KeyboardInterrupt  # as a kill would, after a save

    monkeypatch.setattr("orchestration.train_stage.default_trainer", lambda: dying)
    assert main(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "runs")]) == 130
    train_double.CALLS.clear()
    monkeypatch.setattr("orchestration.train_stage.default_trainer", lambda: train_double.fake_train_sft)
    assert main(["--config", cfg, "run", "--resume", "--out", str(tmp_path / "runs")]) == 0
    assert [c["resumed_from"] for c in train_double.CALLS] == [["checkpoint-2"]]  # the same folder, its last save
    engine = create_engine(pg_url)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM evaluations WHERE finished_at IS NOT NULL")).scalar_one() == 1
        assert c.execute(text("SELECT finished_at IS NOT NULL FROM rounds")).scalar_one()
    engine.dispose()


@pytest.mark.slow
def test_two_rounds_on_local_ray(store, pg_url, tmp_path, server, fake_repl, monkeypatch):
    _two_rounds(pg_url, tmp_path, server, fake_repl, monkeypatch, "2")


def test_the_generator_loads_when_asked_and_gives_way_when_released(monkeypatch):
    """One GPU serves proving, training and the next checkpoint in turn: the engines' generator is loaded
    on its first request and released before another model opens (and before training)."""
    import contextlib

    import flywheel.llm.base as llm_base
    from flywheel.config import GeneratorConfig
    from orchestration.engines import Engines, LazyGenerator, open_prover

    events = []

    @contextlib.contextmanager
    def make(model):
        events.append(f"load {model}")

        class Double:
            def generate(self, requests):
                return [[model]] * len(requests)

        yield Double()
        events.append(f"free {model}")

    monkeypatch.setattr(llm_base, "make_generator", lambda c: make(c.model))
    base = LazyGenerator(lambda: make("base"), "base")
    assert events == [] and base.generate(["r"]) == [["base"]] and events == ["load base"]
    engines = Engines(base, None, None, 1, False)
    with open_prover(engines, GeneratorConfig(backend="hf", model="ckpt")) as prover:
        assert prover.generate(["r"]) == [["ckpt"]]
    assert events == ["load base", "free base", "load ckpt", "free ckpt"]
    assert base.generate(["r"]) == [["base"]] and events[-1] == "load base"  # back when asked again
    base.release()
    assert events[-1] == "free base"


def test_two_rounds_of_sft_then_grpo(store, pg_url, tmp_path, server, fake_repl, monkeypatch):
    """train.method sft+grpo: each round's GRPO starts from the SFT checkpoint it just trained, on the statements
    that checkpoint proves sometimes (a sampling pass measures them); its rollouts are stored attempts of source
    rl tied to its checkpoint; round 2 proves with round 1's GRPO checkpoint."""
    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    monkeypatch.setattr("orchestration.train_stage.default_trainer", lambda: train_double.fake_train_sft)
    monkeypatch.setattr("orchestration.grpo_stage.default_grpo_trainer", lambda: train_double.fake_train_grpo)
    train_double.CALLS.clear()
    _ingest(pg_url, monkeypatch)
    path = _config(tmp_path, server, fake_repl)
    cfg = yaml.safe_load(open(path))
    cfg["train"] |= {"method": "sft+grpo", "grpo_group_size": 4, "curriculum_low": 0.0, "curriculum_high": 1.0,
                     "curriculum_min_attempts": 2, "sides": ["statement"]}
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    assert main(["--config", path, "run", "--rounds", "2", "--out", str(tmp_path / "runs")]) == 0
    engine = create_engine(pg_url)
    with engine.connect() as c:
        checkpoints = c.execute(text("SELECT id, round, method, path, base_model, metrics FROM checkpoints ORDER BY id")).all()
        models = dict(c.execute(text("SELECT round, array_agg(DISTINCT model) FROM proof_attempts WHERE source = 'prove' "
                                     "GROUP BY round")).all())
        rl = c.execute(text("SELECT round, checkpoint_id, count(*) FROM proof_attempts WHERE source = 'rl' "
                            "GROUP BY 1, 2 ORDER BY 1")).all()
        sampled = c.execute(text("SELECT count(*) FROM proof_attempts WHERE source = 'sample'")).scalar_one()
        stages = c.execute(text("SELECT stages FROM rounds WHERE number = 1")).scalar_one()
    engine.dispose()
    ck = tmp_path / "checkpoints"
    assert [(c.round, c.method, c.path) for c in checkpoints] == [
        (1, "sft", str(ck / "round-1" / "model")), (1, "grpo", str(ck / "round-1" / "grpo" / "model")),
        (2, "sft", str(ck / "round-2" / "model")), (2, "grpo", str(ck / "round-2" / "grpo" / "model"))]
    assert checkpoints[1].base_model == checkpoints[0].path and checkpoints[3].base_model == checkpoints[2].path
    assert models[2] == [str(ck / "round-1" / "grpo" / "model")]  # round 2 proves with round 1's GRPO checkpoint
    assert [tuple(r) for r in rl] == [(1, checkpoints[1].id, 8), (2, checkpoints[3].id, 8)]  # 2 steps of 4 a round
    assert sampled > 0 and checkpoints[1].metrics["curriculum"]["prompts"]
    assert checkpoints[1].metrics["reward"] == [{"step": 1, "reward": 0.5}, {"step": 2, "reward": 0.5}]
    assert stages["train"]["state"] == "done" and stages["train"]["counts"]["outcomes"]["grpo reward"] == "0.500 -> 0.500"


def _nothing_proved(prompt: str, i: int) -> str:
    """Statements are made and kept, but no proof of any side checks."""
    if "You are grading an autoformalization" in prompt or "Translate the problem to Lean 4" in prompt:
        return round_respond(prompt, i)
    return "  omega -- fake:error=no\n```"


def _no_training(*_a, **_k):
    raise AssertionError("a round with no new pairs must not train")


def test_a_round_with_nothing_new_skips_train_and_evaluate_and_finishes(store, pg_url, tmp_path, fake_repl,
                                                                       monkeypatch, capsys):
    server = OpenAIServer(_nothing_proved)
    try:
        monkeypatch.setattr("orchestration.train_stage.default_trainer", lambda: _no_training)
        _ingest(pg_url, monkeypatch)
        cfg = _config(tmp_path, server, fake_repl)
        assert main(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "runs")]) == 0
        engine = create_engine(pg_url)
        with engine.connect() as c:
            stages, finished = c.execute(text("SELECT stages, finished_at FROM rounds WHERE number = 1")).one()
            checkpoints = c.execute(text("SELECT count(*) FROM checkpoints")).scalar_one()
        engine.dispose()
        assert finished is not None and checkpoints == 0  # the prover stays what it was
        assert stages["train"]["state"] == "skipped"
        assert stages["train"]["counts"]["reason"] == "no verified pairs to train on in rounds 1..1"
        assert stages["evaluate"]["state"] == "skipped"
        capsys.readouterr()
        assert main(["status"]) == 0
        out = capsys.readouterr().out
        assert "skipped: no verified pairs to train on in rounds 1..1" in out, out
        order = [line.split("|")[1].strip() for line in out.split("rounds:\n", 1)[1].split("\n\n", 1)[0].splitlines()
                 if line.startswith("1 ")]
        assert order == ["autoformalize", "filter", "hypotheses", "prove", "audit", "export", "train", "evaluate"], out
        # the round finished, so the next run starts round 2 rather than refusing
        assert main(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "runs")]) == 0
    finally:
        server.close()
