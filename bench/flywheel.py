"""The flywheel turning, measured: `flywheel run --rounds 4` with the train and evaluate stages, from a tiny
word-level policy at random init (tests/grpo_model.py over the synthetic benchmark's words) on the synthetic
formal benchmark (flywheel/synthetic.py), every proof checked by the real Lean 4 REPL of 2021 (core only).
Round 1 samples with the random policy and verifies what it can; each round's train stage fine-tunes afresh
on every verified pair so far; its evaluate stage measures pass@1 and pass@8 of the new checkpoint on the
held-out split; round N+1 proves with checkpoint N. Per round: statements proved, held-out pass@k, and
where the time went. Run as `python -m bench.flywheel` (options: --help)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.report import machine, scratch_db, table, write_section

REPO = Path(__file__).resolve().parent.parent

# The run's settings; tests/test_flywheel.py runs a shorter one with the same function.
# max_tokens 1: a random policy over ~60 words writes a one-word proof and stops about once in 1,800 samples at
# max_tokens 20 (measured: 0 of 50 statements proved with 1,600 samples), so round 1 would find nothing to train on
# 32 samples and 10 epochs (measured over 8 seeds on the fake REPL's rule, docs/benchmarks.md): with 16 samples one
# seed's random policy proved nothing in round 1 and the wheel never started; 30 epochs collapse the policy onto
# the families round 1 found (pass@1 = pass@8, nothing new after round 2), 5 leave it too weak to use what it saw
PROVER = dict(samples_per_side=32, passes=1, prove_negation=False, hypothesis_rejection=False,
              sampling=dict(temperature=1.0, top_p=1.0, max_tokens=1, seed=0))
TRAIN = dict(method="sft", epochs=10, lr=3e-3, lr_scheduler="constant", batch_size=8, bf16=False, max_length=128,
             gradient_checkpointing=False, device="cpu", sides=["statement"], include_unaudited=True,
             save_steps=100000, logging_steps=10)
EVAL = dict(benchmark="synthetic", split="test", n=8, k=[1, 8])


def policy(out: Path, seed: int = 0) -> Path:
    """The random-init word-level policy over every word of the synthetic benchmark's statements and proofs."""
    from flywheel.synthetic import generate, vocabulary
    from tests.grpo_model import build

    return build(out, vocabulary(generate()), seed)


def real_repl() -> str:
    """The real 2021 REPL (unpacked into the test cache once); LEAN_PATH set for every REPL process."""
    from tests.real_lean import unpack

    lean = unpack()
    os.environ["LEAN_PATH"] = str(lean.lean_path)
    return str(lean.repl)


def fake_repl() -> str:
    """The fake REPL replaying the reference-proof rule of the synthetic benchmark (tests/fake_repl.py)."""
    import shlex

    os.environ["FAKE_REPL_SYNTHETIC"] = "1"
    os.environ["FAKE_REPL_NO_REPLAY"] = "1"
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(REPO / 'tests' / 'fake_repl.py'))}"


def run_config(work: Path, model: Path, repl: str, seed: int, prover: dict | None = None, train: dict | None = None,
               evaluate: dict | None = None) -> Path:
    import yaml

    cfg = {
        "generator": {"backend": "hf", "model": str(model), "device": "cpu", "dtype": "float32", "seed": seed,
                      "batch_size": 256},
        "lean": {"repl": repl, "header": "", "timeout_s": 30, "workers": 1},
        "filters": {"compile": False, "grade": False},  # every synthetic statement compiles (tests/test_synthetic.py)
        "prover": PROVER | {"sampling": PROVER["sampling"] | {"seed": seed}} | (prover or {}),
        "train": TRAIN | {"seed": seed, "out_dir": str(work / "checkpoints")} | (train or {}),
        "eval": EVAL | (evaluate or {}),
    }
    path = work / "flywheel.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def turn(url: str, work: Path, rounds: int, seed: int = 0, train_limit: int | None = None, repl: str | None = None,
         **overrides) -> list[dict]:
    """Synth, ingest the train split (its first `train_limit` statements), run the rounds; the rows per round."""
    from flywheel.synthetic import FAMILIES, generate, write
    from orchestration.cli import main

    os.environ["FLYWHEEL_DB_URL"] = url
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    items = generate()
    train = [it for it in items if it.split == "train"]
    if train_limit is not None:  # the first statements of every family alike
        per = max(1, train_limit // 5)
        train = [it for f in FAMILIES for it in [x for x in train if x.family == f][:per]]
    paths = write(work / "synthetic", train + [it for it in items if it.split == "test"])
    if main(["ingest", str(paths["train"]), "--source", "synthetic", "--formal"]) != 0:
        raise RuntimeError(f"ingest of {paths['train']} failed")
    cfg = run_config(work, policy(work / "policy", seed), repl or real_repl(), seed, **overrides)
    # checkpoint 0: the starting policy on the held-out split, where every later checkpoint is measured
    ev = overrides.get("evaluate") or {}
    start = ["--config", str(cfg), "eval", "--benchmark", "synthetic", "--split", "test", "--n",
             str(ev.get("n", EVAL["n"])), "--k", ",".join(str(k) for k in ev.get("k", EVAL["k"])), "--workers", "1"]
    if main(start) != 0:
        raise RuntimeError("flywheel eval of the starting policy failed")
    code = main(["--config", str(cfg), "run", "--rounds", str(rounds), "--workers", "1", "--out", str(work / "runs")])
    if code != 0:
        raise RuntimeError(f"flywheel run ended with exit status {code}")
    return rows(url)


def rows(url: str) -> list[dict]:
    """Per round, from the store: statements proved, held-out pass@k, seconds of generation, Lean and training."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as c:
        rounds = c.execute(text("SELECT number, stages FROM rounds ORDER BY number")).all()
        proved = dict(c.execute(text("SELECT round, count(*) FROM proofs WHERE side = 'statement' GROUP BY round")).all())
        lean = dict(c.execute(text("SELECT round, coalesce(sum(time_s), 0) FROM proof_attempts GROUP BY round")).all())
        evals = dict(c.execute(text("SELECT round, pass_at_k FROM evaluations WHERE finished_at IS NOT NULL "
                                    "ORDER BY round, id")).all())
        eval_lean = dict(c.execute(text("SELECT e.round, coalesce(sum(p.lean_s), 0) FROM evaluations e "
                                        "JOIN eval_problems p ON p.evaluation_id = e.id GROUP BY e.round")).all())
        start = c.execute(text("SELECT pass_at_k FROM evaluations WHERE round IS NULL AND finished_at IS NOT NULL "
                               "ORDER BY id LIMIT 1")).scalar()
    engine.dispose()
    out, total = [], 0
    if start is not None:  # the starting policy (bench.flywheel's turn evaluates it before round 1)
        out.append({"round": 0, "proved": 0, "proved_total": 0, "pass@1": start.get("1"), "pass@8": start.get("8"),
                    "generation_s": 0.0, "lean_s": 0.0, "train_s": 0.0, "round_s": 0.0})
    for number, stages in rounds:
        seconds = {name: float(((stages or {}).get(name) or {}).get("counts", {}).get("seconds", 0.0))
                   for name in ("prove", "train", "evaluate")}
        total += proved.get(number, 0)
        pass_at_k = evals.get(number) or {}
        lean_s = float(lean.get(number, 0.0)) + float(eval_lean.get(number, 0.0))
        out.append({"round": number, "proved": proved.get(number, 0), "proved_total": total,
                    "pass@1": pass_at_k.get("1"), "pass@8": pass_at_k.get("8"),
                    "generation_s": max(0.0, seconds["prove"] + seconds["evaluate"] - lean_s), "lean_s": lean_s,
                    "train_s": seconds["train"], "round_s": sum(seconds.values())})
    return out


def by_checkpoint(got: list[dict]) -> dict[int, float]:
    """Held-out pass@1 by checkpoint; a round that trained nothing keeps the prover it had, and its pass@1."""
    out, last = {}, 0.0
    for r in got:
        last = out[r["round"]] = r["pass@1"] if r["pass@1"] is not None else last
    return out


def _gain(runs, a: int, b: int) -> list[float]:
    return [(at := by_checkpoint(got)).get(b, 0.0) - at.get(a, 0.0) for _, got, _ in runs]


def gains_line(runs, rounds: int) -> str:
    """Held-out pass@1 gains across seeds: from the starting policy (checkpoint 0) and from checkpoint 1 to the
    last, each as mean, sd and least, so the noise of seeds stands beside them."""
    def stat(name: str, g: list[float]) -> str:
        sd = f", sd {100 * statistics.stdev(g):.1f}" if len(g) > 1 else ""
        return f"{name}: mean {100 * statistics.mean(g):+.1f} points{sd}, least {100 * min(g):+.1f}"

    seeds = ", ".join(" -> ".join(_pct(r["pass@1"]) for r in got) for _, got, _ in runs)
    return (f"Held-out pass@1 by checkpoint (0 = the starting policy), over {len(runs)} seed(s): {seeds}. "
            f"{stat(f'checkpoint 0 -> {rounds}', _gain(runs, 0, rounds))}; "
            f"{stat(f'checkpoint 1 -> {rounds}', _gain(runs, 1, rounds))}; "
            f"wall {', '.join(f'{s:.0f} s' for _, _, s in runs)}.")


LEAN_NAMES = {"real": "the real 2021 REPL", "fake": "the fake REPL's reference-proof rule"}


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.flywheel", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seeds", type=int, default=1, help="runs with seeds 0..N-1, each on a fresh database")
    p.add_argument("--method", default="sft", choices=["sft", "sft+grpo"], help="train.method")
    p.add_argument("--train-limit", type=int, help="ingest only this many train statements (every family alike)")
    p.add_argument("--lean", default="real", choices=["real", "fake"],
                   help="real: the 2021 Lean REPL; fake: the fake REPL's reference-proof rule (fast)")
    p.add_argument("--samples", type=int, default=PROVER["samples_per_side"], help="prover.samples_per_side")
    p.add_argument("--max-tokens", type=int, default=PROVER["sampling"]["max_tokens"],
                   help="prover.sampling.max_tokens (1: one-word proofs, what a random policy can find)")
    p.add_argument("--epochs", type=int, default=TRAIN["epochs"], help="train.epochs of each round's fine-tune")
    p.add_argument("--temperature", type=float, default=PROVER["sampling"]["temperature"],
                   help="prover.sampling.temperature")
    p.add_argument("--no-doc", action="store_true", help="print the table, leave docs/benchmarks.md alone")
    args = p.parse_args(argv)
    runs = []
    for seed in range(args.seeds):
        with scratch_db("flywheel_bench_turn") as url, tempfile.TemporaryDirectory(prefix="flywheel-turn-") as tmp:
            start = time.perf_counter()
            repl = real_repl() if args.lean == "real" else fake_repl()
            sampling = PROVER["sampling"] | {"seed": seed, "max_tokens": args.max_tokens, "temperature": args.temperature}
            got = turn(url, Path(tmp), args.rounds, seed, args.train_limit, repl,
                       train={"method": args.method, "epochs": args.epochs},
                       prover={"samples_per_side": args.samples, "sampling": sampling})
            runs.append((seed, got, time.perf_counter() - start))
    headers = ["seed", "round", "proved (new)", "proved (all)", "held-out pass@1", "held-out pass@8",
               "generation s", "Lean s", "training s", "round s"]
    body = [(seed, r["round"], r["proved"], r["proved_total"], _pct(r["pass@1"]), _pct(r["pass@8"]),
             round(r["generation_s"], 1), round(r["lean_s"], 1), round(r["train_s"], 1), round(r["round_s"], 1))
            for seed, got, _ in runs for r in got]
    text = table(headers, body)
    summary = "\n\n" + gains_line(runs, args.rounds)
    notes = (f"\n\ntrain.method {args.method}; {args.rounds} rounds (round 0: the starting policy, evaluated before "
             "them); the synthetic benchmark (150 train statements"
             f"{f', {args.train_limit} ingested' if args.train_limit else ''}, 50 held out, 5 families); prover: "
             f"{args.samples} samples a statement, max {args.max_tokens} tokens, temperature {args.temperature:g}; "
             f"train: {args.epochs} epochs a round; "
             f"evaluate: n={EVAL['n']}; Lean: {LEAN_NAMES[args.lean]}, one worker; generation: transformers on CPU. "
             "Generation s is the prove and evaluate stages' wall time less their Lean time.")
    name = ("flywheel" if args.method == "sft" else "flywheel_grpo") + ("_fake" if args.lean == "fake" else "")
    title = ("The flywheel turning (SFT)" if args.method == "sft" else "The flywheel turning with GRPO (sft+grpo)") + \
        (", on the fake REPL's reference-proof rule" if args.lean == "fake" else "")
    if args.no_doc:
        print(text + summary + notes)
    else:
        write_section(name, title, text + summary + notes, machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
