"""GRPO across processes: `flywheel train --method grpo --accelerate-config F` starts the trainer's processes
with `accelerate launch` (here two, on CPU, from a multi-GPU config: accelerate runs them as torchrun does and
they join over gloo); each scores its own completions through the driver's reward service, which holds the one
Lean pool and the store. Every rollout of both processes is stored, each with its rank; the checkpoint is
recorded with the reward's counts. The service refuses a request without its token, a malformed one, a key of
no prompt, and passes a store's failure back to the trainer as an error, never as a reward."""

import socket
import threading

import pytest
import yaml
from sqlalchemy import text

from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import Side, VerdictStatus
from tests.seed import statement
from tests.test_grpo import FAILED, PROVED, _seed

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def grpo_model(tmp_path_factory) -> str:
    from tests.grpo_model import build

    return str(build(tmp_path_factory.mktemp("grpo-llama")))


@pytest.mark.slow
def test_grpo_under_accelerate_launch_stores_every_process_rollouts(store, fake_repl, grpo_model, tmp_path,
                                                                     monkeypatch):
    from orchestration.cli import main

    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sts = _seed(store, {0: (8, 1), 1: (8, 2)}, grpo_model)
    monkeypatch.setattr("orchestration.grpo_stage.default_grpo_trainer", _not_here)
    accelerate = tmp_path / "two.yaml"
    accelerate.write_text(yaml.safe_dump({
        "compute_environment": "LOCAL_MACHINE", "distributed_type": "MULTI_GPU", "num_processes": 2,
        "num_machines": 1, "machine_rank": 0, "main_process_ip": "127.0.0.1", "main_process_port": _free_port(),
        "mixed_precision": "no", "use_cpu": False}))
    config = tmp_path / "flywheel.yaml"
    config.write_text(yaml.safe_dump({
        "generator": {"backend": "hf", "model": grpo_model, "device": "cpu"},
        "lean": {"repl": fake_repl, "timeout_s": 10, "workers": 2},
        "prover": {"sampling": {"max_tokens": 6, "seed": 0}},
        "train": {"method": "grpo", "grpo_steps": 3, "grpo_lr": 1e-2, "grpo_group_size": 4, "grpo_prompts_per_step": 1,
                  "grpo_max_completion_length": 6, "grpo_beta": 0.0, "bf16": False, "device": "cpu",
                  "save_steps": 2, "sides": ["statement"], "curriculum_min_attempts": 8, "seed": 0,
                  "out_dir": str(tmp_path / "checkpoints")}}))
    assert main(["--config", str(config), "train", "--round", "1", "--accelerate-config", str(accelerate)]) == 0
    with store.read_only() as conn:
        ck = conn.execute(text("SELECT * FROM checkpoints")).one()
        rl = conn.execute(text("SELECT sampling->>'rank' AS rank, sampling->>'step' AS step, count(*) AS n, "
                               "min(model) AS model FROM proof_attempts WHERE source = 'rl' "
                               "GROUP BY 1, 2 ORDER BY 1, 2")).all()
    out = tmp_path / "checkpoints" / "round-1" / "grpo"
    assert (ck.method, ck.path) == ("grpo", str((out / "model").resolve()))
    assert (out / "model" / "config.json").is_file() and (out / "model" / "tokenizer.json").is_file()
    # 3 steps; in each, each process's 4 completions scored once, in the driver, stored with its rank
    assert [(r.rank, r.step, r.n) for r in rl] == [(str(rank), str(step), 4) for rank in (0, 1) for step in range(3)]
    assert {r.model for r in rl} == {ck.path}
    assert ck.metrics["rollouts_this_run"] == 24 and ck.metrics["steps"] == 3 and len(ck.metrics["reward"]) == 3
    assert {c["statement_id"] for c in ck.metrics["curriculum"]["prompts"]} == {sts[0].id, sts[1].id}


def _not_here():
    raise AssertionError("GRPO trained in the driver's process")


@pytest.mark.slow
def test_grpo_in_a_child_process_is_scored_by_the_driver(store, fake_repl, grpo_model, tmp_path, monkeypatch):
    """train.process: child (auto's choice on a GPU): one training process of its own, the reward served to it."""
    from orchestration.cli import main

    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("orchestration.grpo_stage.default_grpo_trainer", _not_here)
    _seed(store, {0: (8, 1)}, grpo_model)
    config = tmp_path / "flywheel.yaml"
    config.write_text(yaml.safe_dump({
        "generator": {"backend": "hf", "model": grpo_model, "device": "cpu"},
        "lean": {"repl": fake_repl, "timeout_s": 10, "workers": 2},
        "prover": {"sampling": {"max_tokens": 6, "seed": 0}},
        "train": {"method": "grpo", "process": "child", "grpo_steps": 2, "grpo_group_size": 4, "grpo_beta": 0.0,
                  "grpo_max_completion_length": 6, "bf16": False, "device": "cpu", "sides": ["statement"],
                  "curriculum_min_attempts": 8, "out_dir": str(tmp_path / "checkpoints")}}))
    assert main(["--config", str(config), "train", "--round", "1"]) == 0
    with store.read_only() as conn:
        ck = conn.execute(text("SELECT * FROM checkpoints")).one()
        n = conn.execute(text("SELECT count(*) FROM proof_attempts WHERE source = 'rl' AND model = :m"),
                         {"m": ck.path}).scalar_one()
    assert ck.method == "grpo" and n == 8 == ck.metrics["rollouts_this_run"]


class _Stored:
    def __init__(self, fail: bool = False):
        self.batches, self.fail = [], fail

    def __call__(self, results):
        if self.fail:
            raise RuntimeError("the database refused the batch")
        self.batches.append(results)


def _reward(on_results):
    from flywheel.config import ProverConfig
    from prover_loop.train.reward import LeanReward, make_prompt

    prompt = make_prompt(statement(0, 1), Side.STATEMENT, None, ProverConfig())

    def check(header, goal, proof):
        return Verdict(VerdictStatus.PROVED if "norm_num" in proof else VerdictStatus.FAILED)

    return prompt, LeanReward([prompt], check, 4, 1, "policy", on_results, "run")


def test_the_reward_service_scores_each_process_and_refuses_what_it_should():
    from prover_loop.train.reward_service import RemoteReward, RewardError, RewardServer

    stored = _Stored()
    prompt, reward = _reward(stored)
    with reward, RewardServer(reward) as server:
        ranks = [RemoteReward(server.url, server.token, rank) for rank in (0, 1)]
        answers = {}

        def post(rank: int) -> None:
            answers[rank] = ranks[rank].post([PROVED, FAILED, "no code block"], [prompt.key] * 3, 5)

        threads = [threading.Thread(target=post, args=(rank,)) for rank in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == {0: [1.0, 0.0, 0.0], 1: [1.0, 0.0, 0.0]}
        with pytest.raises(RewardError, match="403: wrong or missing token"):
            RemoteReward(server.url, "guess", 0).post([PROVED], [prompt.key], 0)
        with pytest.raises(RewardError, match="400: no prompt of this training has the key 'nope'"):
            ranks[0].post([PROVED], ["nope"], 0)
        with pytest.raises(RewardError, match="400: malformed request"):
            ranks[0].post([PROVED, PROVED], [prompt.key], 0)
    attempts = [a for batch in stored.batches for r in batch for a in r.attempts]
    assert sorted((a.sampling["rank"], a.sampling["step"], a.sampling["sample"]) for a in attempts) == [
        (rank, 5, i) for rank in (0, 1) for i in range(3)]
    assert len({a.id for a in attempts}) == 6  # the two processes' rollouts are distinct attempts
    assert sorted(c["rank"] for c in reward.curve) == [0, 1]
    with pytest.raises(RewardError, match="cannot be reached"):
        ranks[0].post([PROVED], [prompt.key], 0)  # the driver is gone: the trainer stops with the reason


def test_a_store_failure_reaches_the_trainer_as_an_error_not_a_reward():
    from prover_loop.train.reward_service import RemoteReward, RewardError, RewardServer

    prompt, reward = _reward(_Stored(fail=True))
    with RewardServer(reward) as server:
        remote = RemoteReward(server.url, server.token, 0)
        remote.post([PROVED], [prompt.key], 0)  # stored on the writer thread: its failure shows on the next call
        reward._store.shutdown(wait=True)
        with pytest.raises(RewardError, match="500: RuntimeError: the database refused the batch"):
            remote.post([PROVED], [prompt.key], 1)
    reward.close()
