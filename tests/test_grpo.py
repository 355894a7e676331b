"""GRPO with Lean's verdicts as the reward, for real on CPU: a tiny random Llama (tests/grpo_model.py) whose
words include `undefined_lemma`, which the fake REPL refuses; its mean reward rises over a few dozen steps;
every rollout is a stored attempt of source `rl`; the curriculum is exactly the band of stored pass rates;
a REPL that dies mid-group is a reward of 0 and the batch goes on; a killed training resumes."""

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from flywheel.config import LeanConfig, ProverConfig, TrainConfig
from flywheel.records import Side, VerdictStatus
from tests.seed import attempt, statement

pytestmark = pytest.mark.postgres

# A few steps with a large step size: enough for the tiny policy to stop naming `undefined_lemma`.
GRPO = dict(method="grpo", grpo_steps=20, grpo_lr=1e-2, grpo_group_size=8, grpo_prompts_per_step=2,
            grpo_max_completion_length=6, grpo_beta=0.02, bf16=False, device="cpu", lr_scheduler="constant",
            save_steps=10, sides=["statement"], curriculum_min_attempts=8, seed=0)
PROVED, FAILED = "  norm_num\n```", "  exact undefined_x\n```"


@pytest.fixture(scope="session")
def grpo_model(tmp_path_factory) -> str:
    from tests.grpo_model import build

    return str(build(tmp_path_factory.mktemp("grpo-llama")))


def _seed(store, rates: dict[int, tuple[int, int]], model: str, round_: int = 1) -> list:
    """Statements s{i}, each with `attempts` stored attempts of `model` on its statement side, `proved` of them proved."""
    from db import proofs as dbproofs
    from db import statements as dbst
    from tests.seed import Result

    sts = [statement(i, round_) for i in rates]
    with store.session() as s:
        dbst.insert_statements(s, sts)
    for st, (n, proved) in zip(sts, rates.values()):
        tried = [attempt(st, Side.STATEMENT, k, VerdictStatus.PROVED if k < proved else VerdictStatus.FAILED,
                         f"by\n  simp -- {model} {k}") for k in range(n)]
        for a in tried:
            a.model = model
        with store.session() as s:
            dbproofs.save_result(s, Result(st, None, tried, None), round_)
    return sts


def test_grpo_raises_the_mean_reward_and_stores_every_rollout(store, pg_url, fake_repl, grpo_model, tmp_path,
                                                               monkeypatch):
    from orchestration.cli import main

    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sts = _seed(store, {0: (8, 1), 1: (8, 2), 2: (8, 0), 3: (8, 4)}, grpo_model)
    config = tmp_path / "flywheel.yaml"
    config.write_text(yaml.safe_dump({
        "generator": {"backend": "hf", "model": grpo_model, "device": "cpu"},
        "lean": {"repl": fake_repl, "timeout_s": 10, "workers": 2},
        "prover": {"sampling": {"max_tokens": 6, "seed": 0}},
        "train": GRPO | {"out_dir": str(tmp_path / "checkpoints")}}))
    assert main(["--config", str(config), "train", "--round", "1"]) == 0
    with store.read_only() as conn:
        ck = conn.execute(text("SELECT * FROM checkpoints")).one()
        rl = conn.execute(text("SELECT count(*), count(DISTINCT checkpoint_id), min(checkpoint_id), min(model) "
                               "FROM proof_attempts WHERE source = 'rl'")).one()
        rates = conn.execute(text("SELECT statement_id, pass_rate FROM statement_pass_rates "
                                  "WHERE source = 'sample' AND model = :m"), {"m": ck.path}).all()
        found = conn.execute(text("SELECT count(*) FROM proofs p JOIN proof_attempts a ON a.id = p.attempt_id "
                                  "WHERE a.source = 'rl'")).scalar_one()
    out = tmp_path / "checkpoints" / "round-1" / "grpo"
    assert (ck.round, ck.method, ck.serve, ck.path) == (1, "grpo", "full", str((out / "model").resolve()))
    assert ck.base_model == grpo_model and ck.config["grpo_group_size"] == 8
    curve = [x["reward"] for x in ck.metrics["reward"]]
    assert len(curve) == 20 and sum(curve[-5:]) / 5 > sum(curve[:5]) / 5 + 0.1, curve  # a real learning signal
    # the band (0, 0.25] of the stored rates: s0 (1/8) and s1 (2/8), hardest first; s2 (0) and s3 (1/2) left out
    chosen = ck.metrics["curriculum"]["prompts"]
    assert [(c["statement_id"], c["rate_before"]) for c in chosen] == [(sts[0].id, 0.125), (sts[1].id, 0.25)]
    assert {r.statement_id for r in rates} == {sts[0].id, sts[1].id}  # the rate after: the new model sampled
    assert all(c["rate_after"] == dict(rates)[c["statement_id"]] for c in chosen)
    # every rollout stored (20 steps of 2 prompts x 8), named after the checkpoint; the proofs it found kept
    assert (rl[0], rl[1], rl[2], rl[3]) == (20 * 16, 1, ck.id, ck.path)
    assert found == 2
    assert json.loads((out / "curriculum.json").read_text())["band"] == [0.0, 0.25]


def test_the_curriculum_is_exactly_the_band_topped_up_by_sampling(store, lean_cfg, tmp_path, monkeypatch):
    """Stored rates 0, 1/8, 2/8, 3/8, 1; another model's attempts, rollouts, crashed checks and sketches do not count; a
    statement with too few attempts is sampled (two more: one proved) to 1/4 and joins."""
    import dataclasses

    from flywheel.config import Config, GeneratorConfig
    from flywheel.lean.guard.cache import MemoryCache
    from flywheel.lean.guard.verifier import Verifier
    from orchestration.engines import Engines
    from orchestration.grpo_stage import curriculum
    from tests.doubles import ScriptedGenerator

    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    sts = _seed(store, {0: (8, 0), 1: (8, 1), 2: (8, 2), 3: (8, 3), 4: (8, 8), 5: (2, 0)}, "m")
    _seed(store, {0: (4, 2)}, "other")  # s0 by another model: not m's rate
    with store.engine.begin() as conn:  # s0's rollout, a crash of s3 and a sketch of s2 leave the rates as they are
        conn.execute(text("INSERT INTO proof_attempts (attempt_key, statement_id, side, round, model, proof, "
                          "code_sha256, verdict, source, sampling) VALUES "
                          f"('{'a' * 64}', '{sts[0].id}', 'statement', 1, 'm', 'x', '{'0' * 64}', 'proved', 'rl', '{{}}'), "
                          f"('{'b' * 64}', '{sts[3].id}', 'statement', 1, 'm', 'y', '{'0' * 64}', 'crashed', 'prove', '{{}}'), "
                          f"('{'c' * 64}', '{sts[2].id}', 'statement', 1, 'm', 'z', '{'0' * 64}', 'incomplete', 'prove', "
                          "'{\"kind\": \"sketch\"}')"))
    cfg = Config(lean=lean_cfg, train=TrainConfig(sides=["statement"], curriculum_min_attempts=4),
                 prover=ProverConfig(sampling=dataclasses.replace(ProverConfig().sampling, max_tokens=64)))
    generator = ScriptedGenerator(lambda req: [PROVED, FAILED], model="m")
    with Verifier(lean_cfg, MemoryCache()) as v:
        engines = Engines(generator, v.check, v.compile_check, 2, False)
        chosen = curriculum(store, cfg, 1, tmp_path, GeneratorConfig(model="m"), v.check, 2, engines, resume=False)
    assert {(p.statement.id, p.rate) for p in chosen} == {(sts[1].id, 0.125), (sts[2].id, 0.25), (sts[5].id, 0.25)}
    assert chosen[0].statement.id == sts[1].id and len(chosen) == 3  # the hardest first
    assert sum(r.n for r in generator.requests) == 2  # only s5 had too few attempts
    with store.read_only() as conn:
        sampled = conn.execute(text("SELECT statement_id, verdict FROM proof_attempts WHERE source = 'sample'")).all()
    assert sorted(r.verdict for r in sampled) == ["failed", "proved"] and {r.statement_id for r in sampled} == {sts[5].id}
    recorded = json.loads((tmp_path / "curriculum.json").read_text())
    assert [(r["statement_id"], r["rate_before"]) for r in recorded["prompts"]] == [(p.statement.id, p.rate) for p in chosen]
    # a resumed training keeps the set it chose, whatever the store says now
    resumed = curriculum(store, dataclasses.replace(cfg, train=TrainConfig(sides=["statement"], curriculum_high=0.1)),
                         1, tmp_path, GeneratorConfig(model="m"), v.check, 2, engines, resume=True)
    assert [p.key for p in resumed] == [p.key for p in chosen]


def test_a_repl_that_dies_mid_group_is_reward_zero_and_the_batch_goes_on(store, lean_cfg, monkeypatch):
    from flywheel.lean.guard.cache import MemoryCache
    from flywheel.lean.guard.verifier import Verifier
    from orchestration.grpo_stage import _storer
    from prover_loop.train.reward import LeanReward, make_prompt

    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    st = _seed(store, {7: (1, 0)}, "m")[0]
    prompt = make_prompt(st, Side.STATEMENT, None, ProverConfig())
    completions = [PROVED, "  simp -- fake:die\n```", FAILED, "<think>never done", "  simp\n```", "  ring -- boom\n```"]

    def check(header, goal, proof):
        if "boom" in proof:
            raise ConnectionError("worker gone")
        return v.check(header, goal, proof)

    with Verifier(lean_cfg, MemoryCache()) as v:
        with LeanReward([prompt], check, 3, 1, "policy", _storer(store, 1, "rl"), "run-1") as reward:
            rewards = reward(prompts=[prompt.prompt] * 6, completions=completions, key=[prompt.key] * 6)
            again = reward(prompts=[prompt.prompt] * 2, completions=[PROVED, FAILED], key=[prompt.key] * 2)
    assert rewards == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0] and again == [1.0, 0.0]
    with store.read_only() as conn:
        rows = conn.execute(text("SELECT verdict, reason, source, sampling->>'sample' AS k FROM proof_attempts "
                                 "WHERE model = 'policy' ORDER BY (sampling->>'call')::int, (sampling->>'sample')::int")).all()
        proved = conn.execute(text("SELECT status FROM statements WHERE id = :i"), {"i": st.id}).scalar_one()
    assert [r.verdict for r in rows] == ["proved", "crashed", "failed", "rejected", "proved", "crashed",
                                         "proved", "failed"]
    assert {r.source for r in rows} == {"rl"} and "ConnectionError" in rows[5].reason
    assert proved == "proved"  # a proof found while training is stored as any other


def test_a_killed_grpo_training_resumes_from_its_last_save(grpo_model, lean_cfg, tmp_path, monkeypatch):
    from transformers import TrainerCallback

    from flywheel.errors import ConfigError
    from flywheel.lean.guard.cache import MemoryCache
    from flywheel.lean.guard.verifier import Verifier
    from prover_loop.train.grpo import train_grpo
    from prover_loop.train.reward import LeanReward, make_prompt

    class Killed(Exception):
        pass

    class KillAt3(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise Killed

    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    prompts = [make_prompt(statement(i), Side.STATEMENT, None, ProverConfig()) for i in range(2)]
    cfg = TrainConfig(**(GRPO | {"grpo_steps": 4, "save_steps": 2}))
    stored: list = []
    with Verifier(lean_cfg, MemoryCache()) as v:
        with LeanReward(prompts, v.check, 2, 1, "m", stored.extend, "run") as reward:
            with pytest.raises(Killed):
                train_grpo(prompts, reward, cfg, tmp_path, grpo_model, callbacks=[KillAt3()])
        assert sorted(p.name for p in (tmp_path / "trainer").glob("checkpoint-*")) == ["checkpoint-2"]
        with LeanReward(prompts, v.check, 2, 1, "m", stored.extend, "run") as reward:
            with pytest.raises(ConfigError, match="--resume"):
                train_grpo(prompts, reward, cfg, tmp_path, grpo_model)
            result = train_grpo(prompts, reward, cfg, tmp_path, grpo_model, resume=True)
    assert result.metrics["resumed_from_step"] == 2 and result.metrics["steps"] == 4
    assert [x["step"] for x in result.metrics["reward"]] == [1, 2, 3, 4]
    assert result.metrics["rollouts_this_run"] == 2 * 16 and (Path(result.path) / "model.safetensors").is_file()
