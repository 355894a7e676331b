"""One proving pass over statements: each side proved by the configured strategy, the sides of a statement
settled in canonical order at the first proved one (prover_loop/strategies). Plain logic: a Generator and a
check function in, attempts and proofs out."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

from flywheel.config import ProverConfig
from flywheel.records import Proof, ProofAttempt, Side, Statement, VerdictStatus
from prover_loop.attempts import proof_of, render_code
from prover_loop.extract import NoProof
from prover_loop.goals import goal_text
from prover_loop.lemmas import Found, Pool
from prover_loop.strategies import Task, make_strategy
from prover_loop.strategies.scheduler import Lean, Scheduler
from prover_loop.strategies.unit import Budget, Lane, Unit

NO_PROOF = NoProof.NONE.value
END = object()  # put on the writer's queue after the last result
__all__ = ["NO_PROOF", "Result", "prove_pass", "render_code"]


@dataclass(slots=True)
class Result:
    """What a pass stores for one statement: the attempts of the canonical prefix, and the proof if any."""

    statement: Statement
    side: Side | None  # the side proved, if one was
    attempts: list[ProofAttempt]
    proof: Proof | None
    # a unit whose strategy journals (Strategy.journal): "open" for attempts stored before it settled, "done"
    # once it has; with the sides it covers, so that a killed one is resumed (db.proofs.done_units)
    search: str | None = None
    sides: tuple[str, ...] = ()
    pass_: int = 0
    derived: list[Statement] = field(default_factory=list)  # subgoal lemmas tried (decompose), stored first
    lemmas: list[Found] = field(default_factory=list)  # those proved, or whose negation was, by this unit
    # the independent attempt each of `attempts` belongs to, (lane index, Strategy.attempt_of), and what every
    # attempt spent, [Lean checks, tokens] by the same key (evaluation's unit: prover_loop/evaluate.py)
    of_attempt: list[tuple[int, int]] = field(default_factory=list)
    spent: dict[tuple[int, int], list[int]] = field(default_factory=dict)


def units_of(statements: Sequence[Statement], informal: Mapping[str, str], sides: Sequence[Side],
             cfg: ProverConfig, pass_: int, samples: int, early_stop: bool,
             strategy: Sequence[str] | None = None,
             resumed: Mapping[str, Sequence[ProofAttempt]] | None = None, lemmas: Pool | None = None,
             attempts: int = 1) -> Iterator[Unit]:
    """One unit per statement: a lane per side, or `attempts` lanes per side, each an independent attempt at
    the budget (Task.attempt; evaluation)."""
    names = list(strategy or cfg.strategy)
    budget = Budget(cfg.budget_checks, cfg.budget_tokens)
    for st in statements:
        lanes = []
        for side in sides:
            for t in range(attempts):
                task = Task(st, side, goal_text(st, side, cfg.negation_form), informal.get(st.problem_id or ""),
                            pass_, samples, cfg, early_stop, lemmas, attempt=t)
                task.resumed = [a for a in (resumed or {}).get(st.id, ())
                                if a.side is side and a.sampling.get("pass") == pass_]
                lanes.append(Lane(len(lanes), task, make_strategy(names, task)))
        yield Unit(st.id, lanes, budget, early_stop)


def result_of(unit: Unit, round_: int) -> Result:
    outcome = unit.outcome()
    attempts = [a for *_, a in outcome]
    side, proof = None, None
    if unit.best is not None:
        lane = unit.lanes[unit.best[1]]
        side, proof = lane.task.side, proof_of(lane.task, attempts[-1], round_)
    result = Result(unit.lanes[0].task.statement, side, attempts, proof, *_search(unit, "done"))
    _lemmas(result, unit, outcome, round_)
    result.of_attempt = [(index, unit.lanes[index].strategy.attempt_of(check)) for (_, index), check, *_ in outcome]
    result.spent = spent_of(unit, outcome)
    return result


def spent_of(unit: Unit, outcome) -> dict[tuple[int, int], list[int]]:
    """[Lean checks, tokens] of each attempt, over the checks of the outcome: what a serial run spends. A check
    in flight when an earlier answer made it moot (a lemma's negation racing the proof of its statement) is
    wasted, not spent: counting it would make the stored spending depend on which answer came first."""
    spent: dict[tuple[int, int], list[int]] = {}
    for (_, index), check, _, _ in outcome:
        mine = spent.setdefault((index, unit.lanes[index].strategy.attempt_of(check)), [0, 0])
        mine[0] += check.proof is not None
        mine[1] += check.tokens
    return spent


def _lemmas(result: Result, unit: Unit, outcome, round_: int) -> None:
    """The derived statements of the lemmas a unit's attempts prove (decompose), and those proved."""
    derived: dict[str, Statement] = {}
    for (_, index), check, _, attempt in outcome:
        sub = check.subject
        if sub is None:
            continue
        derived.setdefault(sub.statement.id, sub.statement)
        if attempt.verdict is VerdictStatus.PROVED:
            source = unit.lanes[index].task
            result.lemmas.append(Found(sub.statement, source.statement, source.side, sub.side, attempt.id,
                                       attempt.proof, proof_of(sub, attempt, round_)))
    result.derived = list(derived.values())


def _search(unit: Unit, state: str) -> tuple[str | None, tuple[str, ...], int]:
    if not any(lane.strategy.journal for lane in unit.lanes):
        return None, (), 0
    return state, tuple(lane.task.side.value for lane in unit.lanes), unit.lanes[0].task.pass_


def progress_of(unit: Unit, attempts: list[ProofAttempt]) -> Result:
    """Attempts of a journaling unit stored before it settles (their place in its outcome is sure)."""
    return Result(unit.lanes[0].task.statement, None, attempts, None, *_search(unit, "open"))


def prove_pass(statements: Sequence[Statement], informal: Mapping[str, str], sides: Sequence[Side],
               cfg: ProverConfig, pass_: int, round_: int, generator, check: Callable, workers: int,
               on_results: Callable[[list[Result]], None], samples: int | None = None, chunk: int = 16,
               stop: threading.Event | None = None, early_stop: bool = True,
               strategy: Sequence[str] | None = None, sketch: Callable | None = None,
               tactics: Callable | None = None, resumed: Mapping[str, Sequence[ProofAttempt]] | None = None,
               journal: bool = False, roles: dict | None = None, lemmas: Pool | None = None,
               attempts: int = 1) -> int:
    """Generation overlaps verification: `chunk` statements are asked for in one call while the checks of
    those before run. Without early_stop every chain runs to its end (evaluation: pass@k needs the count of
    correct samples). strategy: prover.strategy unless given. tactics: Verifier.check_tactics, for rmaxts;
    resumed: the stored attempts of searches a kill interrupted, by statement (db.proofs.open_searches);
    journal: a journaling strategy's attempts go to on_results as soon as they are sure (Result.search "open").
    roles: generators of other model roles (decompose's `sketcher`); lemmas: the lemma pool (decompose), which
    also counts the lemma requests and checks the pass shared (Scheduler.shared);
    attempts: independent attempts per side, each a lane with the whole budget (evaluation).
    Returns how many model requests were withdrawn, their side decided before they were answered (Scheduler)."""
    from flywheel.errors import ConfigError

    samples = cfg.samples_per_side if samples is None else samples
    if "decompose" in (strategy or cfg.strategy) and sketch is None:
        raise ConfigError("prover.strategy decompose elaborates sketches: it needs a sketch check (Verifier.sketch)")
    if "rmaxts" in (strategy or cfg.strategy) and tactics is None:
        raise ConfigError("prover.strategy rmaxts reads the tactics Lean ran: it needs Verifier.check_tactics")
    units = units_of(statements, informal, sides, cfg, pass_, samples, early_stop, strategy, resumed, lemmas, attempts)
    with _Writer(on_results, stop) as writer:
        # Results are stored by the writer thread, so a Lean worker never waits on the database.
        scheduler = Scheduler(generator, Lean(check, sketch, tactics), workers, round_,
                              lambda u: writer.put(result_of(u, round_)), writer, chunk, roles=roles,
                              on_progress=(lambda u, a: writer.put(progress_of(u, a))) if journal else None)
        try:
            scheduler.run(units)
        finally:
            if lemmas is not None:
                lemmas.shared += scheduler.shared
    return scheduler.withdrawn


class _Writer:
    """Hands results to `on_results` from its own thread, in order, as batches: whatever has arrived while
    the last batch was stored, after waiting up to `linger_s` for more (one transaction for several units
    when checks finish close together). It doubles as verify_groups' stop: set when the caller's stop is, or
    once storing failed (no new check starts, and the error is raised when the pass ends). Leaving waits for
    every queued result."""

    def __init__(self, on_results: Callable[[list[Result]], None], stop: threading.Event | None,
                 linger_s: float = 0.2, most: int = 256):
        self._on_results = on_results
        self._stop = stop
        self._linger_s, self._most = linger_s, most
        self._queue: queue.Queue = queue.Queue(maxsize=4 * most)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="store-results", daemon=True)

    def is_set(self) -> bool:
        return self._error is not None or (self._stop is not None and self._stop.is_set())

    def put(self, result: Result) -> None:
        self._queue.put(result)

    def _batch(self, first) -> tuple[list[Result], bool]:
        """`first` and what follows it within the linger time; True when END was met."""
        batch, deadline = [first], time.monotonic() + self._linger_s
        while len(batch) < self._most:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is END:
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self) -> None:
        ended = False
        while not ended:
            first = self._queue.get()
            if first is END:
                break
            batch, ended = self._batch(first)
            if self._error is None:
                try:
                    self._on_results(batch)
                except BaseException as e:  # raised in the caller's thread on the way out
                    self._error = e

    def __enter__(self) -> "_Writer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._queue.put(END)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error
