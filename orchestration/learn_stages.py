"""The round's last two stages: train (orchestration/train_stage.py's training, with the stage's state and
counts recorded) and evaluate (pass@k of the checkpoint just trained). A killed train stage resumes from the
trainer's last save in its folder; a killed evaluation resumes per problem."""

from __future__ import annotations

import threading
from db import rounds as dbrounds
from db.store import Store
from flywheel.config import Config
from flywheel.counts import StageCounts
from flywheel.records import StageState


def train_round(store: Store, cfg: Config, number: int, engines=None) -> StageCounts:
    from orchestration.grpo_stage import train_by_method

    counts = StageCounts("train")
    with store.session() as s:
        before = dbrounds.stage_state(s, number, "train")  # set: an earlier run began training, resume it
        dbrounds.set_stage(s, number, "train", StageState.RUNNING)
    trained = train_by_method(store, cfg, number, resume=before is not None, engines=engines)
    for result, ident in trained:
        _outcomes(counts, result, ident)
    if not trained:  # GRPO alone, and no statement side in the band: the round's prover stays
        counts.outcomes["checkpoint"] = "none: no statement side's pass rate is in the curriculum's band"
    counts.stop()
    with store.session() as s:
        dbrounds.set_stage(s, number, "train", StageState.DONE, counts.as_dict())
    return counts


def skip_learning(store: Store, cfg: Config, number: int) -> StageCounts | None:
    """The train stage skipped (its reason recorded) when rounds 1..number verified no pair its export would hold
    (SFT would refuse an empty one, leaving the round unfinished); None where training goes on. GRPO alone learns
    from statements, not pairs, and is never skipped here."""
    from db.export import select_pairs

    if cfg.train.method == "grpo":
        return None
    chosen = select_pairs(store, list(range(1, number + 1)), cfg.train.sides, cfg.train.exclude_benchmarks,
                          cfg.train.include_unaudited, require_checks=cfg.export.require_checks)
    if chosen.kept:
        return None
    waiting = f" ({chosen.unaudited} proofs wait for the audit)" if chosen.unaudited else ""
    if chosen.short:
        waiting += (f" ({chosen.short} proofs audited without a check export.require_checks requires:"
                    f" {', '.join(cfg.export.require_checks)})")
    return skip_stage(store, number, "train", f"no verified pairs to train on in rounds 1..{number}{waiting}")


def skip_stage(store: Store, number: int, stage: str, reason: str) -> StageCounts:
    counts = StageCounts(stage)
    counts.outcomes["skipped"] = reason
    counts.stop()
    with store.session() as s:
        dbrounds.set_stage(s, number, stage, StageState.SKIPPED, counts.as_dict() | {"reason": reason})
    return counts


def _outcomes(counts: StageCounts, result, ident: int) -> None:
    """A checkpoint's line in the stage's counts: SFT's with its last loss, GRPO's (prefixed) with its reward."""
    metrics = result.metrics or {}
    prefix = "grpo " if result.method.startswith("grpo") else ""
    losses, rewards = metrics.get("loss") or [], metrics.get("reward") or []
    counts.outcomes[prefix + "checkpoint"] = f"{ident}: {result.path}"
    counts.outcomes[prefix + "steps"] = int(metrics.get("steps") or len(losses))
    if losses:
        counts.outcomes["last loss"] = f"{float(losses[-1]['loss']):.4f}"
    if rewards:
        counts.outcomes["grpo reward"] = f"{rewards[0]['reward']:.3f} -> {rewards[-1]['reward']:.3f}"


def evaluate_round(store: Store, cfg: Config, number: int, engines, stop: threading.Event) -> StageCounts:
    """pass@k (eval.benchmark, eval.split, eval.n, eval.k) of the model the next round proves with: this
    round's checkpoint, or the pinned prover.model."""
    from orchestration.engines import open_prover
    from orchestration.eval_stage import model_name, prover_model, run_eval

    with store.session() as s:
        dbrounds.set_stage(s, number, "evaluate", StageState.RUNNING)
    wanted, ident = prover_model(store, cfg, number + 1)
    with open_prover(engines, wanted) as generator:
        summary, counts = run_eval(store, cfg, cfg.eval, generator, engines.check, engines.workers,
                                   model_name(wanted), ident, round_=number, stop=stop, sketch=engines.sketch,
                                   tactics=engines.tactics)
    if not stop.is_set():
        with store.session() as s:
            dbrounds.set_stage(s, number, "evaluate", StageState.DONE,
                               counts.as_dict() | {"pass_at_k": summary["pass_at_k"]})
    return counts
