"""GRPO on more than one GPU: TRL's vLLM server mode from the config and the CLI, the layout printed with the
commands that start it; the Lean reward of a whole group checked at once, off the trainer's critical path."""

import threading

import pytest
import yaml

from flywheel.config import LeanConfig, ProverConfig, TrainConfig, load_config
from flywheel.errors import ConfigError
from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import Side, VerdictStatus
from tests.seed import statement

SERVER = dict(grpo_vllm_mode="server", grpo_vllm_server_url="http://10.0.0.2:8123", grpo_vllm_server_timeout_s=99.0,
              bf16=False)  # bf16 needs a GPU to build TrainingArguments; the rest is what a GPU run gets


def test_server_mode_reaches_trls_grpo_config(tmp_path):
    from prover_loop.train.grpo import grpo_args

    args = grpo_args(TrainConfig(**SERVER), tmp_path, cpu=False)
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_base_url, args.vllm_server_timeout) == (
        True, "server", "http://10.0.0.2:8123", 99.0)
    colocated = grpo_args(TrainConfig(bf16=False, grpo_vllm_gpu_memory_utilization=0.25), tmp_path, cpu=False)
    assert (colocated.vllm_mode, colocated.vllm_gpu_memory_utilization) == ("colocate", 0.25)
    assert not grpo_args(TrainConfig(bf16=False), tmp_path, cpu=True).use_vllm  # transformers generates on a CPU


def test_server_mode_needs_its_url_and_a_gpu_left_to_train_on():
    with pytest.raises(ConfigError, match="train.grpo_vllm_mode: server needs train.grpo_vllm_server_url"):
        load_config(overrides={"train": {"method": "grpo", "grpo_vllm_mode": "server"}})
    from prover_loop.train.memory import Gpus, trainer_gpus

    cfg = TrainConfig(**SERVER, grpo_generation_gpus=2)
    assert trainer_gpus(cfg, "grpo", Gpus(8, 80.0)) == Gpus(6, 80.0)
    assert trainer_gpus(cfg, "sft", Gpus(8, 80.0)) == Gpus(8, 80.0)
    with pytest.raises(ConfigError, match="none is left to train on"):
        trainer_gpus(cfg, "grpo", Gpus(2, 80.0))


def test_flywheel_train_plan_only_prints_the_server_layout(tiny_model, tmp_path, capsys):
    from orchestration.cli import main

    config = tmp_path / "flywheel.yaml"
    config.write_text(yaml.safe_dump({"generator": {"model": tiny_model}, "train": {"method": "grpo"}}))
    argv = ["--config", str(config), "train", "--plan-only", "--gpu-memory-gb", "80", "--gpus", "4"]
    assert main(argv + ["--grpo-vllm-mode", "server", "--grpo-vllm-server-url", "http://127.0.0.1:8123",
                        "--generation-gpus", "1"]) == 0
    out = capsys.readouterr().out
    assert "grpo: memory plan: full fine-tuning on one GPU" in out and "3 GPU(s) of 80.0 GB" in out
    assert "vLLM colocated" not in out  # the server's memory is not the trainer's
    assert f"CUDA_VISIBLE_DEVICES=0 trl vllm-serve --model {tiny_model} --tensor-parallel-size 1 --port 8123" in out
    assert "training on 3 GPU(s) beside it (CUDA_VISIBLE_DEVICES=1,2,3" in out
    assert "Lean reward: 8 checks at once" in out  # grpo_group_size 8 x 1 prompt a step
    assert main(argv + ["--grpo-vllm-mode", "server"]) != 0
    assert "server needs train.grpo_vllm_server_url" in capsys.readouterr().err
    assert main(argv + ["--grpo-vllm-mode", "server", "--grpo-vllm-server-url", "http://h:1", "--generation-gpus",
                        "4"]) != 0
    assert "none is left to train on" in capsys.readouterr().err
    assert main(argv) == 0 and "generation by vLLM colocated in the trainer's process (0.3 of the GPU)" in \
        capsys.readouterr().out


class Concurrency:
    """A checker double that records how many checks run at once; each waits (up to a deadline) for `want`
    to be running together, so a serial pool shows 1 and a parallel one `want`."""

    def __init__(self, want: int):
        self.want, self.active, self.most = want, 0, 0
        self.cond = threading.Condition()

    def __call__(self, header, goal, proof):
        with self.cond:
            self.active += 1
            self.most = max(self.most, self.active)
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.most >= self.want, timeout=10)
            self.active -= 1
        return Verdict(VerdictStatus.PROVED if "norm_num" in proof else VerdictStatus.FAILED)


@pytest.mark.parametrize("reward_workers, most", [(0, 6), (2, 2)])
def test_the_rewards_of_a_group_are_checked_in_parallel(reward_workers, most):
    from prover_loop.train.grpo import reward_workers as workers_of
    from prover_loop.train.reward import LeanReward, make_prompt

    cfg = TrainConfig(grpo_group_size=6, grpo_reward_workers=reward_workers)
    prompt = make_prompt(statement(0), Side.STATEMENT, None, ProverConfig())
    checker, stored = Concurrency(6), []
    with LeanReward([prompt], checker, workers_of(cfg), 1, "policy", stored.extend, "run") as reward:
        rewards = reward(prompts=[prompt.prompt] * 6, completions=["  norm_num\n```", "  simp\n```"] * 3,
                         key=[prompt.key] * 6)
    assert rewards == [1.0, 0.0] * 3 and checker.most == most
    assert len(stored[0].attempts) == 6


def test_the_grpo_stage_opens_as_many_repls_as_a_step_checks(monkeypatch):
    import contextlib

    from flywheel.config import Config
    from orchestration import engines, grpo_stage

    opened = []

    @contextlib.contextmanager
    def verifier(lean, store):
        opened.append(lean.workers)
        yield type("V", (), {"check": staticmethod(lambda *a: None)})

    monkeypatch.setattr(engines, "open_verifier", verifier)
    cfg = Config(lean=LeanConfig(workers=1), train=TrainConfig(grpo_group_size=8, grpo_prompts_per_step=2))
    with grpo_stage._lean(None, cfg, None) as (_, workers):
        assert workers == 16
    assert opened == [16]
