"""GRPO (flywheel train --method grpo): the reward's latency overhead, and trainer steps/s against TRL's
GRPOTrainer with a trivial in-process reward on the same model.

Overhead: per group of G = 8 completions (distinct proofs, so no cache hit), the time the trainer waits on
LeanReward beyond the slowest Lean check in it, the fake REPL answering in 50-500 ms. Target: <= 5%.
Steps/s: a tiny word-level Llama (tests/grpo_model.py), the same GRPOConfig, runs interleaved; ours verifies and
stores nothing (the fake REPL at no latency, rollouts kept in memory), so the gap is the cost of checking.
No GPU was lent to this benchmark: the vLLM rollout tokens/s row is not measured. Run as `python -m bench.grpo`."""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.report import machine, table, write_section

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.05


def _prompts(n: int):
    from flywheel.config import ProverConfig
    from flywheel.records import Side
    from prover_loop.train.reward import make_prompt
    from tests.seed import statement

    return [make_prompt(statement(i), Side.STATEMENT, None, ProverConfig()) for i in range(n)]


def _verifier(workers: int):
    from flywheel.config import LeanConfig
    from flywheel.lean.guard.cache import MemoryCache
    from flywheel.lean.guard.verifier import Verifier

    repl = f"{shlex.quote(sys.executable)} {shlex.quote(str(REPO / 'tests' / 'fake_repl.py'))}"
    return Verifier(LeanConfig(repl=repl, timeout_s=30, workers=workers), MemoryCache())


def overhead(groups: int, g: int = 8) -> list[float]:
    """Per group: (wait on the reward - slowest check) / slowest check."""
    from prover_loop.train.reward import LeanReward

    os.environ["FAKE_REPL_LATENCY_MS"] = "50-500"
    prompt = _prompts(1)[0]
    out = []
    with _verifier(g) as v, LeanReward([prompt], v.check, g, 1, "bench", lambda r: None, "bench") as reward:
        reward(prompts=[prompt.prompt] * g, completions=[f"  simp -- warm {k}\n```" for k in range(g)],
               key=[prompt.key] * g)  # every REPL started
        for call in range(groups):
            completions = [f"  simp -- {call} {k}\n```" for k in range(g)]
            start = time.perf_counter()
            reward(prompts=[prompt.prompt] * g, completions=completions, key=[prompt.key] * g)
            waited = time.perf_counter() - start
            slowest = reward.curve[-1]["slowest_check_s"]
            out.append((waited - slowest) / slowest)
    os.environ.pop("FAKE_REPL_LATENCY_MS")
    return out


def _cfg(steps: int):
    from flywheel.config import TrainConfig

    return TrainConfig(grpo_steps=steps, grpo_lr=1e-2, grpo_group_size=8, grpo_prompts_per_step=2,
                       grpo_max_completion_length=6, grpo_beta=0.02, bf16=False, device="cpu",
                       lr_scheduler="constant", save_steps=10 * steps, seed=0)


def ours(model: str, steps: int, out: Path) -> float:
    from prover_loop.train.grpo import train_grpo
    from prover_loop.train.reward import LeanReward

    prompts = _prompts(4)
    with _verifier(4) as v, LeanReward(prompts, v.check, 4, 1, "bench", lambda r: None, "bench") as reward:
        result = train_grpo(prompts, reward, _cfg(steps), out, model)
    return steps / result.metrics["wall_time_s"]


def plain_trl(model: str, steps: int, out: Path) -> float:
    from datasets import Dataset
    from trl import GRPOTrainer

    from prover_loop.train.grpo import grpo_args
    from prover_loop.train.sft import load_tokenizer

    def trivial(completions, **_):
        return [0.0 if "undefined_" in c else 1.0 for c in completions]

    prompts = _prompts(4)
    trainer = GRPOTrainer(model=model, reward_funcs=trivial, args=grpo_args(_cfg(steps), out, True),
                          train_dataset=Dataset.from_list([{"prompt": p.prompt} for p in prompts]),
                          processing_class=load_tokenizer(model))
    start = time.perf_counter()
    trainer.train()
    return steps / (time.perf_counter() - start)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.grpo")
    p.add_argument("--groups", type=int, default=20)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("FAKE_REPL_NO_REPLAY", "1")
    os.environ.setdefault("FAKE_REPL_SHARED", str(REPO / "tests" / "data"))
    from tests.grpo_model import build

    tmp = Path(tempfile.mkdtemp(prefix="flywheel-bench-grpo-"))
    model = str(build(tmp / "model"))
    ratios = overhead(args.groups)
    runs: dict[str, list[float]] = {"flywheel (Lean reward)": [], "TRL (trivial reward)": []}
    for r in range(args.repeats):
        order = [("flywheel (Lean reward)", ours), ("TRL (trivial reward)", plain_trl)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            runs[name].append(fn(model, args.steps, tmp / f"{name.split()[0]}-{r}"))
    rows = [[name, statistics.median(v), min(v), max(v)] for name, v in runs.items()]
    mean, worst = statistics.mean(ratios), max(ratios)
    verdict = "met" if mean <= TARGET else f"missed (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    speed = statistics.median(runs["flywheel (Lean reward)"]) / statistics.median(runs["TRL (trivial reward)"])
    body = (f"Reward latency overhead, {args.groups} groups of G = 8, fake REPL 50-500 ms a check, 8 REPLs: "
            f"wait beyond the slowest check **{100 * mean:.2f}%** mean, {100 * worst:.2f}% worst "
            f"(target <= {100 * TARGET:.0f}%: {verdict}).\n\n"
            + table(["trainer", "steps/s (median)", "min", "max"], rows) + "\n\n"
            f"Ours / TRL: {speed:.3f} ({args.repeats} interleaved runs each, {args.steps} steps of 2 prompts x 8 "
            "completions of at most 6 tokens, tiny word-level Llama, fp32, CPU; ours checks every completion on "
            "4 fake REPLs at no latency; a real Lean check costs seconds, so on a real prover the rate is Lean's "
            "and the pool's size). The CPUs may be shared with other jobs.\n\n"
            "vLLM rollout tokens/s (GPU): not measured, no GPU was lent to this benchmark.")
    if args.no_write:
        print(body)
    else:
        write_section("grpo", "GRPO: reward latency overhead and trainer steps/s", body, machine())


if __name__ == "__main__":
    main()
