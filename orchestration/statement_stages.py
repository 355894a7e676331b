"""Autoformalize and filter, moved between the store and the stages in committed batches, so a killed
run loses at most one batch and a rerun skips what is done."""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from db import rounds as dbrounds
from db import statements as dbst
from db.store import Store
from filters.base import Filter, run_filters
from flywheel.config import Config
from flywheel.counts import StageCounts
from flywheel.records import StageState, Statement, StatementStatus
from orchestration.progress import progress_bar

from orchestration.unit_store import save_units

log = logging.getLogger(__name__)


def run_autoformalize(store: Store, cfg: Config, generator, round_: int, limit: int | None = None,
                      batch: int = 64, source: str | None = None) -> StageCounts:
    total = StageCounts("autoformalize")
    with store.session() as s:
        dbrounds.set_stage(s, round_, "autoformalize", StageState.RUNNING)
        pending = dbst.count_pending_problems(s, round_, source)
    with progress_bar("autoformalize", pending if limit is None else min(limit, pending), "problem") as bar:
        _formalize_batches(store, cfg, generator, round_, limit, batch, source, total, bar)
    total.stop()
    with store.session() as s:
        dbrounds.set_stage(s, round_, "autoformalize", StageState.DONE, total.as_dict())
    return total


def _formalize_batches(store: Store, cfg: Config, generator, round_: int, remaining: int | None, batch: int,
                       source: str | None, total: StageCounts, bar) -> None:
    from autoformalize.formalize import formalize

    while remaining is None or remaining > 0:
        take = batch if remaining is None else min(batch, remaining)
        with store.session() as s:
            problems = dbst.pending_problems(s, round_, take, source)
        if not problems:
            break
        statements, counts = formalize(problems, generator, cfg.autoformalize, cfg.lean.header, round_)
        stored = []

        def save(sts) -> None:
            with store.session() as s:
                stored.append(dbst.insert_statements(s, sts))

        failed = save_units(save, statements, lambda st: f"statement {st.id} (problem {st.problem_id})", "autoformalize")
        new = sum(stored)
        total.outcomes["not stored"] += len(failed)
        total.merge(counts)
        total.outcomes["stored"] += new
        if new == 0:  # every row was stored before: taking the same problems again would never end
            log.warning("autoformalize: %d problems gave no new statements; stopping", len(problems))
            break
        if remaining is not None:
            remaining -= len(problems)
        bar.update(len(problems))
        log.info("autoformalize: %d problems, %d statements stored", len(problems), new)


def filter_steps(cfg: Config, store: Store, round_: int, generator=None, compile_check=None, workers: int = 1) -> list[tuple[str, Callable]]:
    """The filters in order, cheapest first; each closes over what it needs."""
    from filters.dedup import dedup

    steps: list[tuple[str, Filter]] = []
    if cfg.filters.dedup:
        def _dedup(sts: Sequence[Statement]):
            with store.session() as s:
                return dedup(sts, dbst.known_hashes(s, round_))
        steps.append(("dedup", _dedup))
    if cfg.filters.decontaminate:
        from filters.decontaminate import BenchmarkIndex, decontaminate

        index = BenchmarkIndex.bundled(cfg.filters.benchmarks, cfg.filters.ngram)
        steps.append(("decontaminate", lambda sts: decontaminate(sts, index, cfg.filters.jaccard_threshold)))
    if cfg.filters.compile and compile_check is not None:
        from filters.compile import Retries, compile_filter

        retries = Retries(cfg.lean.infra_retries, cfg.lean.infra_backoff_s)
        steps.append(("compile", lambda sts: compile_filter(sts, compile_check, workers, retries)))
    if cfg.filters.grade and generator is not None:
        from filters.grade import grade_filter

        def _grade(sts: Sequence[Statement]):
            # a statement ingested formal is what its user asked to prove: no translation to grade
            judged = [x for x in sts if not x.formal]
            with store.session() as s:
                informal = {pid: p.informal for pid, p in dbst.problems_by_id(s, [x.problem_id for x in judged if x.problem_id]).items()}
            graded = iter(grade_filter(judged, informal, generator, cfg.filters) if judged else [])
            return [None if x.formal else next(graded) for x in sts]
        steps.append(("grade", _grade))
    return steps


def run_filter(store: Store, cfg: Config, round_: int, generator=None, compile_check=None, batch: int = 256,
               workers: int = 1) -> StageCounts:
    total = StageCounts("filter")
    with store.session() as s:
        dbrounds.set_stage(s, round_, "filter", StageState.RUNNING)
        reopened = dbst.reopen_infra_failed(s, round_)
    if reopened:
        log.info("filter: %d statements of earlier rounds that Lean gave no verdict on are filtered again", reopened)
    steps = filter_steps(cfg, store, round_, generator, compile_check, workers)
    with store.session() as s:
        candidates = dbst.count_candidates(s, round_)
    with progress_bar("filter", candidates, "stmt") as bar:
        while True:
            with store.session() as s:
                todo = dbst.candidates(s, round_, batch)
            if not todo:
                break
            counts = run_filters(todo, steps)
            with store.session() as s:
                dbst.save_decisions(s, todo)
            total.merge(counts)
            bar.update(len(todo))
    total.stop()
    with store.session() as s:
        dbrounds.set_stage(s, round_, "filter", StageState.DONE, total.as_dict())
    return total

