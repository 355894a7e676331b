"""The round driver: stages in order, each state recorded in the store, resumable after any crash."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Sequence

from sqlalchemy import select

from db import rounds as dbrounds
from db.engine import store_failed
from db.models import RoundRow
from db.store import Store
from flywheel.config import AUDIT_CHECKS, Config, to_dict
from flywheel.counts import StageCounts
from flywheel.errors import FlywheelError, StoreError
from flywheel.records import ROUND_STAGES as STAGES
from flywheel.records import DropReason, StageState

log = logging.getLogger(__name__)


def plan(store: Store, rounds: int, resume: bool) -> list[int]:
    """Round numbers to run. A new run starts after the latest round. `--resume` finishes the unfinished
    round and the rest of the run it belonged to (each round records the last round of its run)."""
    with store.session() as s:
        latest = s.scalars(select(RoundRow).order_by(RoundRow.number.desc()).limit(1)).first()
    unfinished = latest is not None and latest.finished_at is None
    if unfinished and not resume:
        raise FlywheelError(f"round {latest.number} did not finish: `flywheel run --resume` continues it")
    if not resume:
        start = latest.number + 1 if latest else 1
        return list(range(start, start + rounds))
    if latest is None:
        return []
    until = int((latest.config or {}).get("run_until", latest.number))
    start = latest.number if unfinished else latest.number + 1
    return list(range(start, until + 1))


class StopOnSignal:
    """First Ctrl-C (or SIGTERM): finish the work in flight, store it, stop. Second: stop now."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._old: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        print("\nflywheel: stopping after the work in flight (Ctrl-C again to abort)", flush=True)
        self.event.set()

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def begin_round(store: Store, cfg: Config, number: int, run_until: int | None = None, pilot: dict | None = None) -> None:
    """Record the round (with its config, the last round of its run, and any pilot's --limit/--source) unless it
    is recorded already. The driver calls this before anything slow starts, so a kill at any later moment leaves
    a round that `--resume` finds."""
    recorded = to_dict(cfg) | {"db": {}, "run_until": run_until or number}
    if pilot:
        recorded["pilot"] = pilot
    with store.session() as s:
        dbrounds.ensure_round(s, number, recorded)


def recorded_pilot(store: Store, number: int) -> dict:
    """The --limit/--source a round was begun with ({} for a whole round)."""
    with store.session() as s:
        row = s.get(RoundRow, number)
        return dict((row.config or {}).get("pilot") or {}) if row is not None else {}


def run_round(store: Store, cfg: Config, number: int, engines, stop: threading.Event, out_dir: Path,
              run_until: int | None = None, pilot: dict | None = None) -> list[StageCounts]:
    """Run the round's stages not done yet. A pilot ({"limit": N, "source": S}) formalizes at most N problems
    of source S in this round, counting those a killed run formalized before."""
    begin_round(store, cfg, number, run_until, pilot)
    done: list[StageCounts] = []
    for stage in STAGES:
        if stop.is_set():
            break
        try:  # every store access of a stage, its state's too, fails as that stage: the error names it
            with store.session() as s:
                state = dbrounds.stage_state(s, number, stage)
            if state in (StageState.DONE, StageState.SKIPPED):
                log.info("round %d: %s already %s", number, stage, state.value)
                continue
            log.info("round %d: %s", number, stage)
            counts = _run_stage(store, cfg, number, stage, engines, stop, out_dir, pilot or {})
            if stop.is_set():  # Ctrl-C or SIGTERM: what was in flight is stored; the stage is stopped, not running
                _settle_stage(store, number, stage, StageState.STOPPED)
        except Exception as e:
            _stage_failed(store, number, stage, e)
            raise
        if counts is None:
            continue
        print(counts.render(), flush=True)
        done.append(counts)
    if not stop.is_set():
        try:
            with store.session() as s:
                dbrounds.finish_round(s, number)
        except Exception as e:
            _stage_failed(store, number, "finish", e)
            raise
    return done


def _run_stage(store: Store, cfg: Config, number: int, stage: str, engines, stop: threading.Event, out_dir: Path,
               pilot: dict) -> StageCounts | None:
    from orchestration import prove_stages, statement_stages
    from orchestration.engines import open_prover, open_sketcher

    if stage == "autoformalize":
        limit, source = pilot.get("limit"), pilot.get("source")
        if limit is not None:
            with store.session() as s:
                limit = max(0, int(limit) - dbrounds.formalized_problems(s, number, source))
        formalizer = _role(store, cfg, number, "formalizer")
        with open_prover(engines, formalizer) as generator:
            return statement_stages.run_autoformalize(store, cfg, generator, number, limit=limit, source=source)
    if stage == "filter":
        grader = _role(store, cfg, number, "grader")
        with open_prover(engines, grader) as generator:
            return statement_stages.run_filter(store, cfg, number, generator if cfg.filters.grade else None,
                                               engines.compile_check if cfg.filters.compile else None,
                                               workers=engines.workers)
    if stage == "hypotheses" and not cfg.prover.hypothesis_rejection:
        return None
    if stage in ("hypotheses", "prove"):
        # The latest checkpoint proves unless prover.model pins one (each attempt's model names it).
        with open_prover(engines, _role(store, cfg, number, "prover")) as prover, \
                open_sketcher(cfg, _role(store, cfg, number, "sketcher"), prover) as roles:
            run = prove_stages.run_hypotheses if stage == "hypotheses" else prove_stages.run_prove
            return run(store, cfg, number, prover, engines.check, engines.workers, stop, tactics=engines.tactics,
                       sketch=engines.sketch, roles=roles)
    if stage == "audit":
        return audit_round(store, cfg, number, engines.workers, stop)
    if stage == "export":
        return export_round(store, number, out_dir, cfg.export.require_checks)
    from orchestration import learn_stages

    if stage == "train":
        if not cfg.run.train:
            return None
        skipped = learn_stages.skip_learning(store, cfg, number)
        if skipped is not None:
            return skipped
        from orchestration.engines import release_generation

        release_generation(engines)  # training takes the GPU the generator held; it reloads when next asked
        return learn_stages.train_round(store, cfg, number, engines)
    if not cfg.run.evaluate:
        return None
    with store.session() as s:
        trained = dbrounds.stage_state(s, number, "train")
    if trained is StageState.SKIPPED:  # the prover is the one evaluated before: nothing new to measure
        return learn_stages.skip_stage(store, number, "evaluate", "train skipped: the prover stays what it was")
    return learn_stages.evaluate_round(store, cfg, number, engines, stop)


def _role(store: Store, cfg: Config, number: int, role: str):
    """The role's Generator config in this round (formalizer, grader; the latest checkpoint formalizes too
    where train.formalizer_too says so)."""
    from db.checkpoints import checkpoint_before
    from flywheel.roles import round_roles

    with store.session() as s:
        return round_roles(cfg, checkpoint_before(s, number))[role]


def _stage_failed(store: Store, number: int, stage: str, e: Exception) -> None:
    """Log the stage's error (the run log records every one) and record the stage `failed`. A fault we know
    (a FlywheelError, which the CLI says in one line) keeps its traceback to the run log; so does a failed server
    (stopped, restarted, cut off), which is raised as a StoreError naming it: every unit stored before it is
    whole, so `--resume` continues."""
    lost = store_failed(e)
    if lost is None and not isinstance(e, FlywheelError):
        log.exception("round %d: %s failed", number, stage)
    else:
        log.info("round %d: %s failed", number, stage, exc_info=True)
    try:
        _settle_stage(store, number, stage, StageState.FAILED)
    except Exception:  # the store itself may be what failed: the stage's own error is the one to see
        (log.info if lost else log.warning)("round %d: could not record %s as failed", number, stage,
                                            exc_info=lost is None)
    if lost is not None:
        raise StoreError(f"round {number}: {stage}: the database ({store.describe()}) failed: {lost}; "
                         "`flywheel run --resume` continues the round once it is back") from e


def _settle_stage(store: Store, number: int, stage: str, state: StageState) -> None:
    """A stage left `running` by its own code ends as `state` (a stage that finished keeps `done`)."""
    with store.session() as s:
        if dbrounds.stage_state(s, number, stage) is StageState.RUNNING:
            dbrounds.set_stage(s, number, stage, state)


def audit_round(store: Store, cfg: Config, number: int, workers: int, stop: threading.Event) -> StageCounts:
    """Every proof not audited yet (this round's and any an earlier run left), before export reads them."""
    from orchestration.audit_stage import run_audit

    with store.session() as s:
        dbrounds.set_stage(s, number, "audit", StageState.RUNNING)
    counts = run_audit(store, cfg, workers=workers, stop=stop)
    if not stop.is_set():
        with store.session() as s:
            dbrounds.set_stage(s, number, "audit", StageState.DONE, counts.as_dict())
    return counts


def export_round(store: Store, number: int, out_dir: Path, require_checks: Sequence[str] = AUDIT_CHECKS) -> StageCounts:
    from db import export as dbexport

    counts = StageCounts("export")
    with store.session() as s:
        dbrounds.set_stage(s, number, "export", StageState.RUNNING)
    target = out_dir / f"round-{number}"
    manifest = dbexport.export_dataset(store, target, rounds=None, require_checks=require_checks)
    total = manifest["counts"]
    counts.kept = int(total["total"])
    if total.get("excluded_benchmark"):
        counts.drop(DropReason.CONTAMINATED, int(total["excluded_benchmark"]))  # a benchmark problem
    if total.get("excluded_unaudited"):
        counts.drop("not audited", int(total["excluded_unaudited"]))
    if total.get("excluded_checks"):
        counts.drop("audited without a required check", int(total["excluded_checks"]))
    counts.seen = counts.kept + sum(counts.dropped.values())
    counts.outcomes["dataset"] = str(target)
    counts.stop()
    with store.session() as s:
        dbrounds.set_stage(s, number, "export", StageState.DONE, counts.as_dict())
    return counts
