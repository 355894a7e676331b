"""Evaluation moved between the store and prover_loop: each problem commits whole with its attempts, so a
resumed evaluation repeats no problem; pass@k is computed once every problem is stored."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

from db import evaluation as dbeval
from db.store import Store
from flywheel.config import Config, EvalConfig, GeneratorConfig
from flywheel.counts import StageCounts
from flywheel.errors import ConfigError
from orchestration.progress import progress_bar
from prover_loop.evaluate import benchmark_statements, budget_curve, by_source, evaluate, mean_pass_at_k, parse_ks


def prover_model(store: Store, cfg: Config, round_: int | None = None) -> tuple[GeneratorConfig, int | None]:
    """(the prover's Generator config, its checkpoint id) in round `round_` (None: from now on): prover.model
    when pinned, else the newest checkpoint trained before that round (an adapter served on its base model),
    else the prover's (or generator's) own model."""
    from db.checkpoints import checkpoint_before
    from flywheel.roles import round_roles

    with store.session() as s:
        latest = checkpoint_before(s, round_ if round_ is not None else 2**31 - 1)
        wanted = round_roles(cfg, latest)["prover"]
        if cfg.prover.model:
            return wanted, dbeval.checkpoint_id_of(s, cfg.prover.model)
    return wanted, latest.id if latest is not None else None


def resolve_checkpoint(store: Store, cfg: Config, given: str | None) -> tuple[GeneratorConfig, int | None]:
    """`--checkpoint ID|PATH`: a number is a row of `checkpoints` (served as it was trained to be), anything
    else a model path or hub name."""
    from db.models import CheckpointRow
    from flywheel.roles import role_config, serving

    if given is None:
        return prover_model(store, cfg)
    prover = role_config(cfg, "prover")
    with store.session() as s:
        if given.isdigit():
            row = s.get(CheckpointRow, int(given))
            if row is None:
                raise ConfigError(f"--checkpoint {given}: no checkpoint with that id (`flywheel sql \"SELECT * FROM checkpoints\"`)")
            return serving(prover, row.path, row.serve, row.base_model), int(given)
        return dataclasses.replace(prover, model=given, lora_adapter=None), dbeval.checkpoint_id_of(s, given)


def model_name(gen: GeneratorConfig) -> str | None:
    """What attempts record as their model: the adapter where one is served, else the model."""
    return gen.lora_adapter or gen.model


def run_eval(store: Store, cfg: Config, ev: EvalConfig, generator, check, workers: int, checkpoint: str,
             checkpoint_id: int | None = None, round_: int | None = None,
             stop: threading.Event | None = None, sketch=None, tactics=None) -> tuple[dict, StageCounts]:
    """Evaluate `checkpoint` (the generator's model) on ev's benchmark split; returns the summary and counts."""
    from db.owner import own

    ks = parse_ks(",".join(map(str, ev.k)), ev.n)
    statements = benchmark_statements(ev.benchmark, ev.split, ev.limit)
    settings = {"sampling": dataclasses.asdict(cfg.prover.sampling), "prompt_style": cfg.prover.prompt_style}
    if cfg.prover.strategy != ["sample"]:  # sampling alone keeps the key evaluations had before strategies
        settings |= {"strategy": cfg.prover.strategy, "repair_turns": cfg.prover.repair_turns,
                     "budget_checks": cfg.prover.budget_checks, "budget_tokens": cfg.prover.budget_tokens}
    if "decompose" in cfg.prover.strategy:
        settings |= {"sketches": cfg.prover.sketches, "lemma_samples": cfg.prover.lemma_samples,
                     "lemma_strategy": cfg.prover.lemma_strategy}
    if "rmaxts" in cfg.prover.strategy:
        settings |= {"rmaxts": dataclasses.asdict(cfg.prover.rmaxts)}
    with store.session() as s:
        eid = dbeval.evaluation_id(s, checkpoint, ev.benchmark, ev.split, ev.n, ks, settings, len(statements),
                                   checkpoint_id, round_)
    # One evaluator per key: two would sample the same problems and store them twice over.
    with own(store, f"evaluation {eid} ({checkpoint} on {ev.benchmark} {ev.split})",
             "the same command continues it once it has ended"):
        return _evaluate_key(store, cfg, ev, eid, statements, ks, generator, check, workers, checkpoint, round_,
                             stop, sketch, tactics)


def _evaluate_key(store: Store, cfg: Config, ev: EvalConfig, eid: int, statements, ks, generator, check, workers: int,
                  checkpoint: str, round_: int | None, stop, sketch, tactics) -> tuple[dict, StageCounts]:
    counts = StageCounts("evaluate")
    with store.session() as s:
        done = dbeval.done_problems(s, eid)
    todo = [st for st in statements if st.name not in done]
    counts.seen = len(statements)
    counts.outcomes["resumed: already stored"] = len(statements) - len(todo)
    bar = progress_bar(f"evaluate {ev.benchmark} {ev.split}", len(todo), "problem")

    def on_results(results) -> None:
        with store.session() as s:
            dbeval.save_problems(s, eid, results)
        counts.outcomes["samples"] += sum(len(r.attempts) for r in results)
        bar.update(len(results))

    try:
        if todo:
            evaluate(todo, ev.benchmark, ev.n, cfg.prover, generator, check, workers, on_results,
                     round_=round_ or 0, stop=stop, sketch=sketch, tactics=tactics)
    finally:
        bar.close()
    summary = _summary(store, eid, statements, ks, checkpoint, ev, cfg.prover.strategy)
    counts.kept = len(summary["problems"])
    for point in summary["budgets"]["curve"]:
        counts.outcomes[f"pass@{point['k']}"] = (f"{100 * point['pass']:.1f}% at {point['checks']:.1f} Lean checks, "
                                               f"{point['tokens']:.0f} tokens")
    counts.stop()
    return summary, counts


def _summary(store: Store, eid: int, statements, ks, checkpoint: str, ev: EvalConfig, strategy: list[str]) -> dict:
    wanted = {st.name for st in statements}
    with store.session() as s:
        rows = [r for r in dbeval.problem_counts(s, eid) if r[0] in wanted]
        complete = len(rows) == len(wanted)
        overall = mean_pass_at_k([(n, c) for _, _, n, c, _ in rows], ks)
        sources = by_source([(src, n, c) for _, src, n, c, _ in rows], ks)
        budgets = {"strategy": "+".join(strategy)} | budget_curve([spent for *_, spent in rows], overall)
        if complete:
            dbeval.finish(s, eid, overall, sources, budgets)
    return {"checkpoint": checkpoint, "benchmark": ev.benchmark, "split": ev.split, "n": ev.n, "complete": complete,
            "pass_at_k": overall, "by_source": sources, "budgets": budgets,
            "problems": [{"name": name, "n": n, "correct": c, "spent": spent} for name, _, n, c, spent in rows]}


def write_summary(summary: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
