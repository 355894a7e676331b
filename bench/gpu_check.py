"""The first GPU hour in one command (scripts/gpu_check.sh): vLLM generation tokens/s; SFT steps/s and MFU in bf16
with the memory plan's estimate beside the measured peak; a LoRA adapter trained and served by vLLM; two GRPO
steps with colocated vLLM and the fake REPL as the verifier; one round of `flywheel run` with the vllm back end.
Nothing is downloaded: a Llama of about 1B parameters built from a config with random weights and a tokenizer
trained here (tests/tiny_model.py). It prints a table and writes it, with the device named, to
docs/benchmarks.md. `--dry` runs the same code on a CPU with the tiny model; what a CPU cannot measure (bf16,
MFU, GPU memory, colocated vLLM) says "n/a on cpu". Each part is timed; a part that fails is a row saying why
and the command exits 1."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.report import machine, table, write_section

ROOT = Path(__file__).resolve().parent.parent
NA = "n/a on cpu"
# dense bf16 peak of one GPU (tensor cores, no sparsity), by the name torch reports
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0}


@dataclass(slots=True)
class Setup:
    dry: bool
    work: Path
    model: str
    rows: list = field(default_factory=list)
    failed: list = field(default_factory=list)

    @property
    def gpu(self) -> bool:
        return not self.dry


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}, {machine()}"
    return f"CPU, {machine()}"


def peak_flops() -> float | None:
    import torch

    name = torch.cuda.get_device_name(0)
    return next((v * 1e12 for k, v in PEAK_TFLOPS.items() if k in name), None)


def generator_config(s: Setup, **kw):
    from flywheel.config import GeneratorConfig

    base = dict(backend="vllm", model=s.model, dtype="bfloat16" if s.gpu else "float32",
                max_model_len=2048 if s.gpu else 1024, gpu_memory_utilization=0.5 if s.gpu else 0.1,
                enforce_eager=True)
    return GeneratorConfig(**(base | kw))


def generation(s: Setup) -> None:
    """Tokens/s of the vllm back end (the asynchronous engine): prompts x n, a fixed length each."""
    from flywheel.llm.base import GenerationRequest, make_generator

    prompts, n, tokens = (128, 4, 256) if s.gpu else (8, 2, 16)
    reqs = [GenerationRequest(f"theorem t{i} (x : ℕ) : x + {i} = {i} + x := by", n=n, max_tokens=tokens,
                              min_tokens=tokens, seed=i) for i in range(prompts)]
    with make_generator(generator_config(s)) as gen:
        gen.generate(reqs[:2])  # warm-up
        start = time.perf_counter()
        outs = gen.generate(reqs)
        wall = time.perf_counter() - start
    made = sum(c.completion_tokens for out in outs for c in out)
    s.rows.append(["vLLM generation (async engine)", f"{made / wall:,.0f} tokens/s",
                   f"{prompts} prompts x n={n} x {tokens} tokens in {wall:.2f} s", "", ""])


def _export(s: Setup) -> Path:
    from bench.train import pairs

    return pairs(s.work / "pairs", 64 if s.gpu else 8)


def _train_cfg(s: Setup, **kw):
    from flywheel.config import TrainConfig

    base = dict(max_steps=20 if s.gpu else 2, batch_size=8 if s.gpu else 2, max_length=1024 if s.gpu else 128,
                bf16=s.gpu, device="cuda" if s.gpu else "cpu", save_steps=1000, lr=1e-5, lr_scheduler="constant")
    return TrainConfig(**(base | kw))


def sft(s: Setup) -> None:
    """Full fine-tuning: steps/s, MFU (6 x parameters x tokens/s over the GPU's bf16 peak), the plan's memory
    estimate beside the measured peak."""
    from prover_loop.train.memory import plan_for
    from prover_loop.train.sft import train_sft

    cfg = _train_cfg(s)
    plan = plan_for(cfg, s.model, "sft")
    if s.gpu:
        import torch

        torch.cuda.reset_peak_memory_stats()
    m = train_sft(_export(s), cfg, s.work / "sft", s.model).metrics
    steps_s = m["steps"] / m["wall_time_s"]
    if s.gpu:
        import torch

        peak = f"{torch.cuda.max_memory_allocated() / 1e9:.2f} GB measured"
        flops = peak_flops()
        mfu = f"{6 * plan.params * m['tokens_per_s'] / flops:.1%}" if flops else "n/a (peak unknown for this GPU)"
    else:
        peak, mfu = NA, NA
    s.rows.append(["SFT, full" + (", bf16" if s.gpu else f" (bf16: {NA})"), f"{steps_s:.2f} steps/s",
                   f"{m['steps']} steps, "
                   f"{m['tokens_per_s']:,.0f} tokens/s; MFU {mfu}", f"{plan.total_gb:.2f} GB ({plan.strategy.value})",
                   peak])


def lora_served(s: Setup) -> None:
    """A LoRA adapter trained, then served by vLLM on the base model (generator.lora_adapter)."""
    from flywheel.llm.base import GenerationRequest, make_generator
    from prover_loop.train.sft import train_sft

    cfg = _train_cfg(s, lora=True, lora_serve="adapter", lora_r=8, lora_alpha=16, max_steps=2)
    result = train_sft(_export(s), cfg, s.work / "lora", s.model)
    with make_generator(generator_config(s, lora_adapter=result.adapter, max_lora_rank=8)) as gen:
        start = time.perf_counter()
        outs = gen.generate([GenerationRequest("theorem t (x : ℕ) : x = x := by", n=4, max_tokens=32, min_tokens=32,
                                               seed=1)])
        wall = time.perf_counter() - start
    made = sum(c.completion_tokens for c in outs[0])
    s.rows.append(["LoRA adapter served by vLLM", f"{made / wall:,.0f} tokens/s",
                   f"adapter (r=8) trained {result.metrics['steps']} steps, {made} tokens "
                   f"generated with it", "", ""])


def fake_repl_config():
    from flywheel.config import LeanConfig

    os.environ.setdefault("FAKE_REPL_SHARED", str(ROOT / "tests" / "data"))
    repl = f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'tests' / 'fake_repl.py'))}"
    return LeanConfig(repl=repl, timeout_s=20, workers=2)


def grpo(s: Setup) -> None:
    """Two GRPO steps, generation by colocated vLLM (transformers on a CPU), the fake REPL as the verifier."""
    from flywheel.config import ProverConfig
    from flywheel.lean.guard.cache import MemoryCache
    from flywheel.lean.guard.verifier import Verifier
    from flywheel.records import Side
    from prover_loop.train.grpo import reward_workers, train_grpo
    from prover_loop.train.reward import LeanReward, make_prompt
    from tests.seed import statement

    cfg = _train_cfg(s, method="grpo", grpo_steps=2, grpo_group_size=4, grpo_max_completion_length=64 if s.gpu else 8,
                     grpo_vllm_mode="colocate", grpo_vllm_gpu_memory_utilization=0.3, save_steps=1000)
    prompts = [make_prompt(statement(i), Side.STATEMENT, None, ProverConfig()) for i in range(4)]
    stored: list = []
    with Verifier(fake_repl_config(), MemoryCache()) as verifier, \
            LeanReward(prompts, verifier.check, reward_workers(cfg), 1, "gpu-check", stored.extend,
                       "gpu-check") as reward:
        result = train_grpo(prompts, reward, cfg, s.work / "grpo", s.model)
    m = result.metrics
    where = "colocated vLLM" if s.gpu else f"transformers ({NA}: colocated vLLM)"
    s.rows.append(["GRPO, 2 steps, fake REPL reward", f"{m['steps_per_s']:.3f} steps/s",
                   f"{m['steps']} steps, {m['rollouts_this_run']} rollouts by {where}, reward wait "
                   f"{m['reward_wait_s']:.2f} s", "", ""])


@contextlib.contextmanager
def _store_url(s: Setup):
    """FLYWHEEL_DB_URL's server with a scratch database when set (CI), else a private embedded PostgreSQL."""
    if os.environ.get("FLYWHEEL_GPU_CHECK_DB_URL"):
        import bench.report as report

        report.SERVER = os.environ["FLYWHEEL_GPU_CHECK_DB_URL"]
        with report.scratch_db("flywheel_gpu_check") as url:
            yield {"url": url}
        return
    yield {"data_dir": str(s.work / "db")}


def flywheel_run(s: Setup) -> None:
    """One round of `flywheel run` on two sample problems, vllm back end, fake REPL, no training."""
    import yaml

    from orchestration.cli import main

    with _store_url(s) as db:
        config = s.work / "flywheel.yaml"
        config.write_text(yaml.safe_dump({
            "db": db, "generator": json.loads(json.dumps(_asdict(generator_config(s)))),
            "lean": {"repl": fake_repl_config().repl, "timeout_s": 20, "workers": 1},
            "autoformalize": {"few_shot": 1, "samples": 1, "sampling": {"max_tokens": 64 if s.gpu else 16}},
            "filters": {"grade": False, "grade_sampling": {"max_tokens": 64}},
            "prover": {"samples_per_side": 2, "false_hyps_samples": 1, "sampling": {"max_tokens": 64 if s.gpu else 16}},
            "run": {"train": False, "evaluate": False}}))
        sample = ROOT / "flywheel" / "data" / "sample_problems.jsonl"
        base = ["--config", str(config)]
        start = time.perf_counter()
        if main(base + ["ingest", str(sample), "--source", "gpu-check", "--map", "informal=informal_prefix",
                        "--map", "id=name"]) != 0:
            raise RuntimeError("flywheel ingest failed")
        code = main(base + ["run", "--rounds", "1", "--limit", "2", "--source", "gpu-check", "--out",
                            str(s.work / "runs")])
        wall = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"flywheel run exited {code}")
    s.rows.append(["`flywheel run`, 1 round, vllm back end", f"{wall:.1f} s", "2 problems through every stage "
                   "(random weights write no Lean, so nothing is kept to prove; the fake REPL is the verifier)", "", ""])


def _asdict(cfg) -> dict:
    import dataclasses

    return {k: v for k, v in dataclasses.asdict(cfg).items() if v is not None}


PARTS: dict[str, Callable[[Setup], None]] = {"generation": generation, "sft": sft, "lora": lora_served,
                                             "grpo": grpo, "run": flywheel_run}


def build_model(dry: bool, work: Path) -> str:
    from tests.tiny_model import build

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return str(build(work / ("tiny" if dry else "llama-1b"), ROOT / "tests" / "data", size="tiny" if dry else "1b"))


def run(dry: bool, work: Path, parts: list[str]) -> Setup:
    s = Setup(dry, work, build_model(dry, work))
    for name in parts:
        start = time.perf_counter()
        try:
            PARTS[name](s)
        except Exception as e:  # one part failing must not hide the others' numbers
            traceback.print_exc()
            s.failed.append(name)
            s.rows.append([f"{name}: FAILED", "", f"{type(e).__name__}: {str(e)[:200]}", "", ""])
        s.rows[-1].append(f"{time.perf_counter() - start:.1f} s")
    return s


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry", action="store_true", help="the same code on a CPU with the tiny model")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"a comma list of {', '.join(PARTS)}")
    parser.add_argument("--work", help="where models and outputs go (default: a temporary folder)")
    parser.add_argument("--no-doc", action="store_true", help="print the table, leave docs/benchmarks.md alone "
                        "(a dry run never writes it: its numbers are a CPU's)")
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)} (choose from {', '.join(PARTS)})")
    if not args.dry:
        import torch

        if not torch.cuda.is_available():
            parser.error("no GPU is visible: run with --dry for the CPU run of the same code")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="flywheel-gpu-check-") as tmp:
        s = run(args.dry, Path(args.work or tmp), parts)
    total = time.perf_counter() - start
    body = table(["part", "rate", "what", "memory estimate", "memory peak", "time"], s.rows)
    body += (f"\n\nModel: a random Llama ({'tiny, head size 32' if args.dry else 'about 1B, Llama-3.2-1B shape'}) with "
             f"a tokenizer trained here; nothing downloaded. {'Dry run: the same code on a CPU. ' if args.dry else ''}"
             f"Whole check: {total:.0f} s.")
    if args.no_doc or args.dry:
        print(f"gpu_check on {device_name()}\n\n{body}")
    else:
        write_section("gpu_check", "First GPU hour: generation, SFT, LoRA serving, GRPO, a round", body,
                      device=device_name())
    if s.failed:
        print(f"gpu_check: FAILED parts: {', '.join(s.failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
