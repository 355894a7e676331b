"""The one driver of every strategy: many units at once over one generator and a pool of Lean checks.

A generator that streams (flywheel.llm.base.streams: vLLM's asynchronous engine, an OpenAI server) is handed
each request as soon as a strategy proposes it and answers each one as it finishes, so the engine's continuous
batching keeps its slots full and no rollout waits for the slowest completion of another. Any other generator
runs in a thread of its own, one call at a time, each call batching every request pending then (new units'
first samples and the revisions asked meanwhile). `workers` checks run at once, taken round robin across
units. New units are taken `chunk` at a time while fewer than `most_active` are open. A unit
is handed to `on_done` once settled (unit.py); when `stop` is set no new work starts, the work in flight
finishes and no unit left unsettled is reported.

A streamed request is withdrawn (flywheel.llm.base.withdraw) once its side is decided, when nothing that side
may still propose could be stored (Unit.wanted, the test its answer would be dropped by): the engine stops
generating it, and the pass does not wait for it. Its answer, had it come, would have changed nothing stored,
so what a unit stores is the same whether its requests are withdrawn or answered; `withdrawn` counts them.

A Generate or Check marked `shared` (decompose's lemmas) is asked once a pass: the first one goes out, an equal
one (the same request, or the same code checked) waits on that answer and is told it as its own (single
flight). Each unit is told what it would have been told alone, so what it stores does not depend on which
unit asked first (flights.py); `shared` counts the proposals answered so."""

from __future__ import annotations

import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

from flywheel.llm.base import streams, withdraw
from prover_loop.attempts import attempt_of
from prover_loop.strategies.base import Check, CheckKind, Checked, Generate, Generated
from prover_loop.strategies.flights import Flights
from prover_loop.strategies.unit import Lane, Unit


@dataclass(slots=True)
class Lean:
    """How checks reach Lean: check(header, statement, proof) -> Verdict for proofs, and for sketches
    (proofs with `sorry` holes) sketch(header, statement, proof) where the caller has one."""

    check: Callable
    sketch: Callable | None = None
    tactics: Callable | None = None  # tactics(header, statement, proof) -> tactics.Checked (Verifier.check_tactics)

    def run(self, lane: Lane, c: Check):
        from flywheel.lean.text.statements import with_preamble

        st = lane.task.statement
        # the statement's preamble serves its negation, its False goal and a strategy's own lemmas too
        statement = with_preamble(st.preamble, c.statement or lane.task.goal)
        if c.kind is CheckKind.SKETCH:
            if self.sketch is None:
                raise NotImplementedError("this Lean back end checks no sketches")
            return self.sketch(st.header, statement, c.proof)
        if c.kind is CheckKind.TACTICS:
            if self.tactics is None:
                raise NotImplementedError("this Lean back end gives no tactic information")
            return self.tactics(st.header, statement, c.proof)
        return self.check(st.header, statement, c.proof)


class Scheduler:
    def __init__(self, generator, lean: Lean, workers: int, round_: int, on_done: Callable[[Unit], None],
                 stop: threading.Event | None = None, chunk: int = 16, most_active: int | None = None,
                 roles: dict | None = None, on_progress: Callable[[Unit, list], None] | None = None):
        """roles: the generators of other model roles a Generate may name (`{"sketcher": gen}`); a role not
        there is answered by `generator`."""
        self.generator, self.lean, self.workers, self.round = generator, lean, workers, round_
        self.model = getattr(generator, "model", None)
        self.roles = dict(roles or {})
        self.on_progress = on_progress  # (unit, attempts sure of their place) for a Strategy.journal
        self.on_done, self.stop, self.chunk = on_done, stop, chunk
        self.most_active = most_active or max(3 * chunk, 4 * workers)
        self.active: set[Unit] = set()
        self.turns: deque[Unit] = deque()  # units with admitted checks, round robin
        self.gens: list[tuple[Unit, Lane, Generate]] = []
        self.gen_error: BaseException | None = None
        self.flights = Flights(self._tell)  # shared proposals of this pass, asked once
        # Every future the loop waits on puts itself here when done: one queue read a wake-up, where
        # concurrent.futures.wait would lock and unlock each future in flight twice.
        self._done: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self.streamed: dict[Future, tuple[Unit, Lane, Generate]] = {}  # requests out on a streaming generator
        self._asked: dict[Unit, set[Future]] = {}  # those of them a unit may withdraw (not shared)
        self.withdrawn = 0  # requests taken back: their side was decided before their answer came

    def _track(self, fut: Future) -> Future:
        fut.add_done_callback(self._done.put)
        return fut

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def run(self, units: Iterator[Unit]) -> None:
        source = iter(units)
        more = True
        futures: dict[Future, tuple[Unit, Lane, Check]] = {}
        generating: tuple[Future, list] | None = None
        streamed = self.streamed
        with ThreadPoolExecutor(self.workers, thread_name_prefix="verify") as pool, \
                ThreadPoolExecutor(1, thread_name_prefix="generate") as gen_pool:
            while True:
                live = not self._stopping()
                if live and self.gen_error is None:
                    # a batching generator paces admission (a call at a time); a streaming one takes units as room frees
                    room = len(self.active) + self.chunk <= self.most_active
                    if more and room and (generating is None or self.streaming):
                        more = self._admit(source)
                    self._stream()
                    if generating is None:
                        generating = self._launch(gen_pool)
                while live and len(futures) < self.workers:
                    picked = self._next()
                    if picked is None:
                        break
                    unit, lane, check = picked
                    unit.in_flight += 1
                    if check.proof is None:  # nothing to send to Lean
                        self._checked(unit, lane, check, None)
                    elif check.replay is not None:  # stored by the run a kill stopped: told back as it was
                        self._checked(unit, lane, check, replayed(check.replay))
                    elif self.flights.first(picked):
                        futures[self._track(pool.submit(self.lean.run, lane, check))] = picked
                if not (futures or streamed or generating):
                    room = more and len(self.active) + self.chunk <= self.most_active
                    if live and self.gen_error is None and (room or self.gens or self.turns):
                        continue
                    break
                finished = [self._done.get()]
                while not self._done.empty():
                    finished.append(self._done.get_nowait())
                for fut in finished:
                    if generating is not None and fut is generating[0]:
                        self._generated(fut, generating[1])
                        generating = None
                    elif fut in streamed:
                        entry = streamed.pop(fut)
                        self._asked.get(entry[0], set()).discard(fut)
                        self._generated(fut, [entry], one=True)
                    elif fut in futures:
                        picked = futures.pop(fut)
                        self._checked(*picked, fut.result())
                        self.flights.answered(picked, fut.result())
                    # else a withdrawn request, ended: whatever it ended with is nobody's
        self._left_open(live=not self._stopping())
        if self.gen_error is not None:
            raise self.gen_error

    def _left_open(self, live: bool) -> None:
        if self.active and live and self.gen_error is None:  # a strategy that neither proposes nor finishes
            stuck = sorted(u.key for u in self.active)
            raise RuntimeError(f"{len(stuck)} units neither settled nor waiting on anything: {', '.join(stuck[:3])}")

    # shared proposals (flights.py)
    @property
    def shared(self) -> int:
        """Shared proposals answered by an equal one's answer this pass."""
        return self.flights.shared

    def _tell(self, entry: tuple, answer) -> None:
        unit, lane, p = entry
        if isinstance(p, Generate):
            self._completions(unit, lane, p, answer)
        else:
            self._checked(unit, lane, p, answer)

    # units in and out
    def _admit(self, source: Iterator[Unit]) -> bool:
        for _ in range(self.chunk):
            unit = next(source, None)
            if unit is None:
                return False
            self.active.add(unit)
            for lane in unit.lanes:
                self.gens += unit.take(lane, lane.strategy.start())
            self._refresh(unit)
        return True

    def _refresh(self, unit: Unit) -> None:
        if unit.finished:
            return
        admitted = unit.ready()
        if admitted:
            was_idle = not unit.queue
            unit.queue.extend(admitted)
            if was_idle:
                self.turns.append(unit)
        if unit.settled():
            self.active.discard(unit)
            unit.finished = True
            if not self._stopping():
                self.on_done(unit)
        self._withdraw(unit)

    def _next(self) -> tuple[Unit, Lane, Check] | None:
        while self.turns:
            unit = self.turns.popleft()
            picked = unit.next_check()
            if unit.queue:
                self.turns.append(unit)
            if picked is not None:
                return (unit, *picked)
            self._refresh(unit)  # what it held was past its success: it may be settled now
        return None

    # generation
    def _generator(self, role: str | None):
        return self.roles[role] if role in self.roles else self.generator

    @property
    def streaming(self) -> bool:
        """Whether the prover's requests go out one by one as they are proposed (the generator streams)."""
        return streams(self.generator)

    def _stream(self) -> None:
        """Hand every pending request of a streaming generator over now; the rest wait for the next batch."""
        kept, pending, self.gens = [], self.gens, []  # a shared request answered at once adds to self.gens
        for u, lane, g in pending:
            generator = self._generator(g.role)
            if not streams(generator):
                kept.append((u, lane, g))
            elif not u.finished and u.wanted(lane) and self.flights.first((u, lane, g)):
                try:
                    fut = generator.submit(g.request)
                except BaseException as e:  # a request refused at the door: raised once the work in flight is done
                    self.gen_error = e
                    break
                self.streamed[fut] = (u, lane, g)
                if not g.shared:  # a shared one may be answering other units too: it is never withdrawn
                    self._asked.setdefault(u, set()).add(fut)
                self._track(fut)
        self.gens = kept + self.gens

    def _withdraw(self, unit: Unit) -> None:
        """Take back the unit's streamed requests whose side is decided (their answers would be dropped)."""
        asked = self._asked.get(unit, set())
        for fut in list(asked):
            _, lane, g = self.streamed[fut]
            if unit.finished or not unit.wanted(lane):
                asked.discard(fut)
                del self.streamed[fut]  # the loop waits no more for it
                self.withdrawn += 1
                withdraw(self._generator(g.role), fut)
        if unit.finished:
            self._asked.pop(unit, None)

    def _launch(self, gen_pool: ThreadPoolExecutor) -> tuple[Future, list] | None:
        wanted, self.gens = [(u, lane, g) for u, lane, g in self.gens if not u.finished and u.wanted(lane)], []
        batch = [entry for entry in wanted if self.flights.first(entry)]
        if not batch:
            return None
        return self._track(gen_pool.submit(self._generate, [g for _, _, g in batch])), batch

    def _generate(self, gens: list[Generate]) -> list:
        """One call per role in the batch, the answers back in the batch's order."""
        by_role: dict = {}
        for i, g in enumerate(gens):
            by_role.setdefault(g.role if g.role in self.roles else None, []).append(i)
        out: list = [None] * len(gens)
        for role, where in by_role.items():
            generator = self._generator(role)
            for i, answer in zip(where, generator.generate([gens[i].request for i in where]), strict=True):
                out[i] = answer
        return out

    def _model(self, role: str | None) -> str | None:
        return getattr(self.roles[role], "model", None) if role in self.roles else self.model

    def _generated(self, fut: Future, batch: list, one: bool = False) -> None:
        """A batch's answers, or (one) a streamed request's."""
        try:
            outputs = [fut.result()] if one else fut.result()
        except BaseException as e:  # raised once the checks in flight are done
            self.gen_error = self.gen_error or e
            return
        for entry, completions in zip(batch, outputs, strict=True):
            self._completions(*entry, completions)
            self.flights.answered(entry, completions)

    def _completions(self, unit: Unit, lane: Lane, gen: Generate, completions) -> None:
        if unit.finished or not unit.wanted(lane):
            return
        self.gens += unit.take(lane, lane.strategy.generated(Generated(gen.tag, list(completions))))
        self._refresh(unit)

    # checks
    def _checked(self, unit: Unit, lane: Lane, check: Check, verdict) -> None:
        unit.in_flight -= 1
        tactics = None
        if check.kind is CheckKind.SKETCH and verdict is not None and hasattr(verdict, "sorries"):
            tactics, verdict = verdict, verdict.verdict  # Verifier.sketch answers a tactics.Checked
        if check.kind is CheckKind.TACTICS and verdict is not None and hasattr(verdict, "tactics"):
            tactics, verdict = verdict, verdict.verdict  # as does Verifier.check_tactics
        attempt = (attempt_of(check.subject or lane.task, check, verdict, self.round, self._model(check.role),
                              lane.strategy.name) if check.stored else None)
        unit.record(lane, check, verdict, attempt)
        if not lane.exhausted:
            self.gens += unit.take(lane, lane.strategy.checked(Checked(check, verdict, attempt, tactics)))
        if self.on_progress is not None and lane.strategy.journal and not self._stopping():
            sure = unit.sure()
            if sure:
                self.on_progress(unit, sure)
        self._refresh(unit)


def replayed(attempt):
    """The verdict a stored attempt records."""
    from flywheel.lean.guard.verdicts import Verdict

    from flywheel.records import VerdictStatus

    return Verdict(VerdictStatus(attempt.verdict), attempt.reason, list(attempt.messages), time_s=attempt.time_s,
                   cached=True)
