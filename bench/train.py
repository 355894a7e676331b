"""Training throughput of `flywheel train` (prover_loop.train.train_sft) against plain TRL `SFTTrainer` on the
same model, pairs and settings, runs interleaved; tokens/s counts the tokens of the sequences trained on
(padding excluded) over the same window (the training loop, from its start to its end). Target: >= 0.97.

CPU: a tiny random Llama (tests/tiny_model.py). No GPU was lent to this benchmark: the 1B-model and MFU rows
are not measured. Run as `python -m bench.train`."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import machine, table, write_section

DATA = Path(__file__).resolve().parent.parent / "flywheel" / "data"
TARGET = 0.97
PROOFS = ["by\n  norm_num", "by\n  nlinarith [sq_nonneg (a - b), sq_nonneg (a + b)]", "by\n  intro h\n  simp_all",
          "by\n  have h := h₀\n  omega"]


def pairs(folder: Path, count: int) -> Path:
    """An export folder (as db/export.py writes it) of miniF2F statements with short proofs."""
    from flywheel.prompting import proof_completion, proof_prompt

    rows = [json.loads(x) for x in (DATA / "minif2f.jsonl").read_text(encoding="utf-8").splitlines()][:count]
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "train.jsonl").open("w", encoding="utf-8") as f:
        for i, r in enumerate(rows):
            theorem = r["formal_statement"].split(":= by")[0].rstrip()
            f.write(json.dumps({"prompt": proof_prompt(r.get("header", ""), theorem, r.get("informal_prefix")),
                                "completion": proof_completion(PROOFS[i % len(PROOFS)])}) + "\n")
    (folder / "manifest.json").write_text(json.dumps({"format": "jsonl", "files": {"train.jsonl": ""}}))
    return folder


def model_dir() -> str:
    from tests.tiny_model import build

    texts = [json.loads(x)["informal_prefix"] for x in (DATA / "minif2f.jsonl").read_text().splitlines()]
    return str(build(Path(tempfile.gettempdir()) / "flywheel-bench-llama-tiny", texts=texts))


def ours(data: Path, cfg, model: str, out: Path) -> tuple[float, int]:
    from prover_loop.train.sft import train_sft

    shutil.rmtree(out, ignore_errors=True)
    m = train_sft(data, cfg, out, model).metrics
    return m["tokens_per_s"], m["tokens_this_run"]


def plain_trl(data: Path, cfg, model: str, out: Path) -> tuple[float, int]:
    """TRL as its documentation shows it: prompt/completion text in, SFTConfig with the same settings."""
    from datasets import load_dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    class Window(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            self.start = time.perf_counter()

        def on_train_end(self, args, state, control, **kw):
            self.wall = time.perf_counter() - self.start

    shutil.rmtree(out, ignore_errors=True)
    args = SFTConfig(output_dir=str(out), max_steps=cfg.max_steps, learning_rate=cfg.lr, lr_scheduler_type=cfg.lr_scheduler,
                     per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accumulation,
                     max_length=cfg.max_length, packing=cfg.packing, bf16=cfg.bf16,
                     gradient_checkpointing=cfg.gradient_checkpointing, seed=cfg.seed, data_seed=cfg.seed,
                     save_strategy="steps", save_steps=cfg.save_steps, logging_steps=cfg.logging_steps,
                     use_cpu=True, report_to="none", disable_tqdm=True)
    window = Window()
    trainer = SFTTrainer(model=model, args=args, callbacks=[window],
                         train_dataset=load_dataset("json", data_files=str(data / "train.jsonl"), split="train"))
    trainer.train()
    # Every pair is trained on exactly once (steps x batch = pairs): the tokens are those of the dataset.
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    return tokens / window.wall, tokens


def main(argv=None) -> None:
    from flywheel.config import TrainConfig

    p = argparse.ArgumentParser(prog="python -m bench.train")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    model = model_dir()
    tmp = Path(tempfile.mkdtemp(prefix="flywheel-bench-train-"))
    data = pairs(tmp / "data", args.steps * args.batch)
    cfg = TrainConfig(max_steps=args.steps, batch_size=args.batch, lr=1e-4, lr_scheduler="constant", bf16=False,
                      max_length=512, device="cpu", save_steps=args.steps, logging_steps=1)
    runs: dict[str, list[tuple[float, int]]] = {"flywheel": [], "trl": []}
    for r in range(args.repeats):
        order = [("flywheel", ours), ("trl", plain_trl)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            runs[name].append(fn(data, cfg, model, tmp / name))
    shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for name in ("flywheel", "trl"):
        rates = [x[0] for x in runs[name]]
        rows.append([name, statistics.median(rates), min(rates), max(rates), runs[name][0][1]])
    ratios = [a[0] / b[0] for a, b in zip(runs["flywheel"], runs["trl"])]
    ratio = statistics.median(ratios)
    body = (table(["trainer", "tokens/s (median)", "min", "max", "tokens a run"], rows) + "\n\n"
            f"Ratio ours / TRL (median of {args.repeats} interleaved pairs): **{ratio:.3f}** "
            f"(target >= {TARGET}; pairs: {', '.join(f'{x:.3f}' for x in ratios)}). Tiny random Llama (hidden 64, "
            f"2 layers), {args.steps} steps of {args.batch} miniF2F prompt/proof pairs, max length 512, full "
            "fine-tuning, fp32, no packing, CPU. Ours tokenizes each pair as the generator sends its prompt, so "
            "its token count differs slightly from TRL's joint tokenization. The machine's CPUs may be "
            "shared with other jobs: single runs then vary by tens of per cent either way, hence "
            "interleaved pairs and their median; both trainers run the same TRL loop.\n\n"
            "GPU rows (a 1B Llama, tokens/s and MFU, single GPU and multi-GPU): not measured, no GPU was lent to "
            "this benchmark.")
    if args.no_write:
        print(body)
    else:
        write_section("train", "Training: flywheel train against plain TRL SFTTrainer", body, machine())


if __name__ == "__main__":
    main()
