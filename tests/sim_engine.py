"""TEST DOUBLE of a continuous-batching LLM engine (vLLM's scheduler in miniature), for the scheduling tests
and bench/async_generation.py. `slots` sequences decode together, one token each per step of `step_s`; each
of a request's n samples is a sequence of its own; a sample's length is drawn heavy-tailed (log-normal, as
proof lengths are: most short, a few near max_tokens), from the request's seed, so a run repeats.

SimulatedEngine.generate(batch) waits for the whole batch, as vllm.LLM.generate does; StreamingSimulatedEngine
adds submit(request), a Future answered the moment the request's samples finish, as AsyncLLM's stream is.
busy() is the share of the engine's decoding capacity (slots x wall time) that sequences filled since
start_clock(), and active() the share of the wall time at least one sequence ran."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Sequence

from flywheel.llm.base import Completion, FinishReason, GenerationRequest, validate


def lognormal_length(median: float, sigma: float) -> Callable[[random.Random, int], int]:
    """Completion lengths: log-normal around `median` tokens, cut at the request's max_tokens."""
    return lambda rng, most: max(1, min(most, int(rng.lognormvariate(math.log(median), sigma))))


@dataclass(slots=True)
class _Job:
    request: GenerationRequest
    texts: list[str]
    done: list[Completion | None]
    future: Future
    remaining: int = 0
    hold: threading.Event | None = None  # its samples do not finish before this is set


@dataclass(slots=True)
class _Seq:
    job: _Job
    k: int
    length: int
    decoded: int = 0


@dataclass(slots=True)
class _Clock:
    start: float = 0.0
    slot_s: float = 0.0  # running sequences x seconds
    active_s: float = 0.0
    steps: int = 0
    tokens: int = 0
    requests: list[float] = field(default_factory=list)  # seconds from submit to answer, per request


class SimulatedEngine:
    name = "simulated"

    def __init__(self, text: Callable[[GenerationRequest, int], str], slots: int = 32, step_s: float = 0.004,
                 length: Callable[[random.Random, int], int] = lognormal_length(64, 1.0), model: str = "simulated",
                 hold: Callable[[GenerationRequest], threading.Event | None] | None = None):
        """hold(request): an event the request's samples wait for once decoded (tests order finishes with it)."""
        self.text, self.slots, self.step_s, self.length, self.model = text, slots, step_s, length, model
        self.hold = hold
        self.calls = 0  # generate calls
        self.submitted = 0
        self.max_running = 0
        self._waiting: deque[_Seq] = deque()
        self._running: list[_Seq] = []
        self._cond = threading.Condition()
        self._closed = False
        self._clock = _Clock(start=time.perf_counter())
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "SimulatedEngine":
        self._thread = threading.Thread(target=self._loop, name="simulated-engine", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    # requests in
    def _enqueue(self, req: GenerationRequest) -> Future:
        rng = random.Random(f"{req.seed}:{req.key}:{req.prompt!s}")
        job = _Job(req, [self.text(req, k) for k in range(req.n)], [None] * req.n, Future(), req.n,
                   self.hold(req) if self.hold else None)
        job.future.set_running_or_notify_cancel()
        submitted = time.perf_counter()
        job.future.add_done_callback(lambda _: self._clock.requests.append(time.perf_counter() - submitted))
        with self._cond:
            for k in range(req.n):
                self._waiting.append(_Seq(job, k, max(req.min_tokens, self.length(rng, req.max_tokens))))
            self.submitted += 1
            self._cond.notify_all()
        return job.future

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        validate(requests)
        self.calls += 1
        futures = [self._enqueue(r) for r in requests]
        return [f.result() for f in futures]

    # the decoding loop
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._waiting and not self._running:
                    self._cond.wait()
                if self._closed:
                    return
                while self._waiting and len(self._running) < self.slots:
                    self._running.append(self._waiting.popleft())
                running = len(self._running)
                self.max_running = max(self.max_running, running)
            start = time.perf_counter()
            time.sleep(self.step_s)
            elapsed = time.perf_counter() - start
            finished = []
            with self._cond:
                self._clock.slot_s += running * elapsed
                self._clock.active_s += elapsed
                self._clock.steps += 1
                self._clock.tokens += running
                for seq in self._running:
                    seq.decoded = min(seq.length, seq.decoded + 1)
                finished = [s for s in self._running if _done(s)]
                self._running = [s for s in self._running if not _done(s)]
            for seq in finished:
                self._finish(seq)

    def _finish(self, seq: _Seq) -> None:
        job = seq.job
        reason = FinishReason.LENGTH if seq.length >= job.request.max_tokens else FinishReason.STOP
        job.done[seq.k] = Completion(job.texts[seq.k], reason, 16, seq.length, seq.k)
        job.remaining -= 1
        if job.remaining == 0:
            job.future.set_result(list(job.done))

    # what was measured
    def load(self) -> tuple[int, int]:
        """(sequences decoding, sequences waiting for a slot) now."""
        with self._cond:
            return len(self._running), len(self._waiting)

    def start_clock(self) -> None:
        with self._cond:
            self._clock = _Clock(start=time.perf_counter())

    def measured(self) -> dict:
        """Since start_clock: busy (capacity used), active (any sequence running), tokens, steps, wall, latencies."""
        with self._cond:
            c = self._clock
            wall = time.perf_counter() - c.start
            latencies = sorted(c.requests)
        return {"wall_s": wall, "busy": c.slot_s / (self.slots * wall) if wall else 0.0,
                "active": c.active_s / wall if wall else 0.0, "tokens": c.tokens, "steps": c.steps,
                "requests": len(latencies),
                "p50_latency_s": latencies[len(latencies) // 2] if latencies else None,
                "p99_latency_s": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None}


def _done(seq: _Seq) -> bool:
    hold = seq.job.hold
    return seq.decoded >= seq.length and (hold is None or hold.is_set())


class StreamingSimulatedEngine(SimulatedEngine):
    """The same engine, taking requests one at a time (flywheel.llm.base.StreamingGenerator)."""

    def submit(self, request: GenerationRequest) -> Future:
        validate([request])
        return self._enqueue(request)
