"""Hypothesis rejection and proving, moved between the store and prover_loop one unit at a time: a unit
(statement, side set, pass) commits whole, so a killed run redoes at most the units in flight."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from db import proofs as dbproofs
from db import rounds as dbrounds
from db import statements as dbst
from db.store import Store
from flywheel.config import Config
from flywheel.counts import StageCounts
from flywheel.records import DropReason, Side, StageState
from orchestration.progress import progress_bar
from orchestration.unit_store import save_units
from prover_loop.prove import Result, prove_pass

log = logging.getLogger(__name__)


def _informal(store: Store, statements) -> dict[str, str]:
    with store.session() as s:
        found = dbst.problems_by_id(s, [x.problem_id for x in statements if x.problem_id])
    return {pid: p.informal for pid, p in found.items()}


def _run_units(store: Store, cfg: Config, round_: int, stage: str, sides: list[Side], passes: int, samples: int,
               generator, check: Callable, workers: int, stop: threading.Event | None,
               progress=None, this_round_only: bool = False, tactics: Callable | None = None,
               sketch: Callable | None = None, roles: dict | None = None) -> StageCounts:
    counts = StageCounts(stage)
    with store.session() as s:
        dbrounds.set_stage(s, round_, stage, StageState.RUNNING)
    exhausted: set[str] = set()
    for pass_ in range(passes):
        with store.session() as s:
            todo = dbproofs.open_statements(s, round_)
            if this_round_only:  # and those of earlier rounds never tried (filtered late, after infra_failed)
                tried = dbproofs.tried_before(s, round_, [t.id for t in todo if t.round < round_], sides)
                todo = [t for t in todo if t.round == round_ or t.id not in tried]
            done = dbproofs.done_units(s, round_, sides, pass_)
            spent = dbproofs.seconds_spent(s, round_, [t.id for t in todo], sides)
            resumed = dbproofs.open_searches(s, round_, sides, pass_)  # rmaxts trees a kill left: go on from them
            lemmas = _lemma_pool(s, cfg)
        budget = cfg.prover.wall_time_s
        exhausted.update(t.id for t in todo if t.id not in done and spent.get(t.id, 0.0) >= budget)
        counts.outcomes["budget exhausted"] = len(exhausted)
        todo = [t for t in todo if t.id not in done and spent.get(t.id, 0.0) < budget]
        if not todo:
            continue
        counts.seen = max(counts.seen, len(todo))  # the first pass, or the first with work after a resume

        bar = progress_bar(f"{stage} pass {pass_ + 1}/{passes}", len(todo), "stmt")
        tick = progress or bar.update

        def save(results: list[Result]) -> None:
            with store.session() as s:  # whole units only, several per transaction
                dbproofs.save_results(s, results, round_)

        def on_results(results: list[Result], tick=tick) -> None:
            failed = save_units(save, results, lambda r: f"statement {r.statement.id if r.statement else '?'}", stage)
            counts.outcomes["not stored (left open)"] += len(failed)
            refused = {id(r) for r, _ in failed}
            results = [r for r in results if r.search != "open"]  # a search's early attempts: its unit goes on
            for result in (r for r in results if id(r) not in refused):
                counts.outcomes["attempts"] += len(result.attempts)
                if result.side is not None:
                    counts.outcomes[f"proved: {result.side.value}"] += 1
            tick(len(results))

        try:
            withdrawn = prove_pass(todo, _informal(store, todo), sides, cfg.prover, pass_, round_, generator, check,
                                   workers, on_results, samples=samples, stop=stop, tactics=tactics, resumed=resumed,
                                   journal=True, sketch=sketch, roles=roles, lemmas=lemmas)
        finally:
            bar.close()
        if withdrawn:  # streamed requests whose side was decided first: the engine stopped generating them
            counts.outcomes["model requests withdrawn"] += withdrawn
        if lemmas is not None:
            counts.outcomes.update(lemmas.counts())
        if stop is not None and stop.is_set():
            break
    _settle(counts, stage)
    counts.stop()
    interrupted = stop is not None and stop.is_set()
    with store.session() as s:
        dbrounds.set_stage(s, round_, stage, StageState.RUNNING if interrupted else StageState.DONE,
                           None if interrupted else counts.as_dict())
    return counts


def _settle(counts: StageCounts, stage: str) -> None:
    """In, kept, dropped for the table: hypotheses drops the statements whose hypotheses prove False;
    prove keeps (open, for the next round) those with neither side proved."""
    settled = sum(n for k, n in counts.outcomes.items() if k.startswith("proved: "))
    if stage == "hypotheses":
        counts.drop(DropReason.INCONSISTENT_HYPOTHESES, settled)
    counts.kept = max(0, counts.seen - settled)


def _lemma_pool(session, cfg: Config):
    """The lemma pool as stored before this pass (decompose only): what the pass proves is shared within it
    (the scheduler's single flight), never read back from the store mid-pass, so no stored row depends on timing."""
    if "decompose" not in cfg.prover.strategy:
        return None
    from db.lemmas import pool
    from prover_loop.lemmas import Pool

    return Pool.of(pool(session))


def run_hypotheses(store: Store, cfg: Config, round_: int, generator, check, workers: int, stop=None, progress=None,
                   tactics=None, sketch=None, roles=None) -> StageCounts:
    """Try `hyps ⊢ False` for each open statement; a proof drops it as inconsistent_hypotheses."""
    return _run_units(store, cfg, round_, "hypotheses", [Side.FALSE_HYPS], 1, cfg.prover.false_hyps_samples,
                      generator, check, workers, stop, progress, this_round_only=True, tactics=tactics,
                      sketch=sketch, roles=roles)


def run_prove(store: Store, cfg: Config, round_: int, generator, check, workers: int, stop=None, progress=None,
              tactics=None, sketch=None, roles=None) -> StageCounts:
    sides = [Side.STATEMENT, Side.NEGATION] if cfg.prover.prove_negation else [Side.STATEMENT]
    return _run_units(store, cfg, round_, "prove", sides, cfg.prover.passes, cfg.prover.samples_per_side,
                      generator, check, workers, stop, progress, tactics=tactics, sketch=sketch, roles=roles)

