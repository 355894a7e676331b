"""A unit of work: one statement's sides, each driven by its strategy, settled in canonical order.

The stored outcome is the prefix of the unit's attempts, in (order, side index), up to the first proved one
(every attempt when none is, or without early stop); in-flight work past a success is wasted, never stored.
Budgets are spent in the same order: a side's check waits until every check before it is known (its
strategy's frontier has passed it), so the checks a budget admits do not depend on timing either."""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

from flywheel.records import ProofAttempt, VerdictStatus
from prover_loop.strategies.base import Check, Generate, Order, Proposal, Strategy, Task

Key = tuple  # (order, side index): a check's place in its unit


@dataclass(slots=True)
class Budget:
    checks: int = 0  # Lean checks per side; 0: unlimited
    tokens: int = 0  # generated tokens per side; 0: unlimited

    @property
    def limited(self) -> bool:
        return bool(self.checks or self.tokens)


@dataclass(slots=True)
class Lane:
    """One side: its strategy, the checks it proposed that wait for admission, what it has spent."""

    index: int
    task: Task
    strategy: Strategy
    waiting: list = field(default_factory=list)  # heap of (order, seq, Check)
    checks: int = 0  # Lean checks admitted (lemmas' and sketches' included)
    tokens: int = 0  # tokens of the proofs admitted
    exhausted: bool = False  # budget spent: no proposal of it is taken any more

    def frontier(self) -> Order | None:
        return None if self.exhausted else self.strategy.frontier()

    def spend(self, check: Check) -> None:
        """An admitted check, against the side's budget: a Lean check when a proof is sent (a replayed one too,
        as the run it resumes spent it), and the tokens that wrote it."""
        self.checks += check.proof is not None
        self.tokens += check.tokens


class Unit:
    def __init__(self, key: str, lanes: list[Lane], budget: Budget, early_stop: bool):
        self.key = key
        self.lanes = lanes
        self.budget = budget
        self.early_stop = early_stop
        self.done: dict[Key, tuple[Check, object, ProofAttempt | None]] = {}
        self.in_flight = 0
        self.queue: deque[tuple[Lane, Check]] = deque()  # admitted, not started yet
        self.finished = False  # settled and handed on
        self.best: Key | None = None  # the first proved attempt in canonical order, so far
        self.journaled: set[Key] = set()  # handed out by sure()
        self._seq = 0

    # proposals
    def take(self, lane: Lane, proposals: list[Proposal]) -> list[tuple["Unit", Lane, Generate]]:
        """File a side's proposals: checks wait here, generations are returned for the scheduler."""
        out = []
        if lane.exhausted:
            return out
        for p in proposals:
            if isinstance(p, Check):
                self._seq += 1
                heapq.heappush(lane.waiting, (p.order, self._seq, p))
            else:
                out.append((self, lane, p))
        return out

    def wanted(self, lane: Lane) -> bool:
        """Whether anything this side may still propose could be stored."""
        front = lane.frontier()
        return front is not None and (self.best is None or (front, lane.index) < self.best)

    def ready(self) -> list[tuple[Lane, Check]]:
        """Checks admitted now, in canonical order per side: past the best success dropped; under a budget
        only once every earlier check of the side is known, and while the side has budget left."""
        out = []
        for lane in self.lanes:
            while lane.waiting and not lane.exhausted:
                order, _, check = lane.waiting[0]
                if self.best is not None and (order, lane.index) > self.best:
                    lane.waiting.clear()
                    break
                if self.budget.limited:
                    front = lane.strategy.frontier()
                    if front is not None and front < order:
                        break  # an earlier check may still come
                    if self._spent(lane):
                        lane.exhausted = True
                        lane.waiting.clear()
                        break
                heapq.heappop(lane.waiting)
                lane.spend(check)
                out.append((lane, check))
                if self.budget.limited and self._spent(lane):
                    lane.exhausted = True  # what it proposes from now on is dropped
                    lane.waiting.clear()
        return out

    def next_check(self) -> tuple[Lane, Check] | None:
        """The next admitted check still wanted (those past the best success are dropped)."""
        while self.queue:
            lane, check = self.queue.popleft()
            if self.best is None or (check.order, lane.index) < self.best:
                return lane, check
        return None

    def _spent(self, lane: Lane) -> bool:
        b = self.budget
        return bool((b.checks and lane.checks >= b.checks) or (b.tokens and lane.tokens >= b.tokens))

    # results
    def record(self, lane: Lane, check: Check, verdict, attempt: ProofAttempt | None) -> None:
        key = (check.order, lane.index)
        if attempt is None:
            return
        self.done[key] = (check, verdict, attempt)
        if (self.early_stop and attempt.verdict is VerdictStatus.PROVED and check.subject is None
                and (self.best is None or key < self.best)):  # a lemma's proof settles nothing of the side
            self.best = key

    def settled(self) -> bool:
        if self.in_flight or any(self.best is None or (c.order, lane.index) < self.best for lane, c in self.queue):
            return False
        for lane in self.lanes:
            if self.wanted(lane):
                return False
            if any(self.best is None or (order, lane.index) < self.best for order, _, _ in lane.waiting):
                return False
        return True

    def sure(self) -> list[ProofAttempt]:
        """Attempts not handed out before whose place in the outcome no answer still to come can change: before
        every check a side may still be told of (Strategy.unanswered) and not past the best success."""
        fronts = [(front, lane.index) for lane in self.lanes if (front := lane.strategy.unanswered()) is not None]
        horizon = min(fronts, default=None)
        keys = sorted(k for k in self.done if k not in self.journaled and (horizon is None or k < horizon)
                      and (self.best is None or k <= self.best))
        self.journaled.update(keys)
        return [self.done[k][2] for k in keys]

    def outcome(self) -> list[tuple[Key, Check, object, ProofAttempt]]:
        keys = sorted(k for k in self.done if (self.best is None or k <= self.best)
                      and self.lanes[k[1]].strategy.keeps(self.done[k][0]))
        return [(k, *self.done[k]) for k in keys]
