"""N REPL processes per header. A check borrows an idle process, never a dead or busy one; processes are
replaced after a fault, after N checks, or when their memory passes the limit."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from flywheel.lean.protocol import Answer
from flywheel.lean.repl import Fault, LeanRepl, ReplFailure

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PoolStats:
    checks: int = 0
    restarts: int = 0
    timeouts: int = 0
    crashes: int = 0
    garbage: int = 0
    busy_s: float = 0.0

    def as_dict(self) -> dict:
        per = self.busy_s / self.checks if self.checks else 0.0
        return {"checks": self.checks, "restarts": self.restarts, "timeouts": self.timeouts,
                "crashes": self.crashes, "garbage": self.garbage, "busy_s": round(self.busy_s, 3),
                "s_per_check": round(per, 4)}


@dataclass(slots=True)
class Outcome:
    answer: Answer | None  # None when the check failed
    failure: ReplFailure | None
    env_answer: Answer | None = None  # a follow-up command's answer, when one was asked
    seconds: float = 0.0


class ReplPool:
    """Use as a context manager; `check(code, follow_up)` from any number of threads."""

    def __init__(self, factory: Callable[[], LeanRepl], size: int, max_checks: int = 200, rss_limit_mb: float = 0):
        self.factory, self.size = factory, max(1, size)
        self.max_checks, self.rss_limit_mb = max_checks, rss_limit_mb
        self._idle: queue.Queue[LeanRepl | None] = queue.Queue()
        self._lock = threading.Lock()
        self.stats = PoolStats()

    def __enter__(self) -> "ReplPool":
        # Processes start lazily, in the thread that first needs one, so start-up is paid in parallel.
        for _ in range(self.size):
            self._idle.put(None)
        return self

    def __exit__(self, *exc) -> None:
        while True:
            try:
                repl = self._idle.get_nowait()
            except queue.Empty:
                break
            if repl is not None:
                repl.close()

    def _fresh(self, old: LeanRepl | None) -> LeanRepl:
        if old is not None:
            old.close()
            with self._lock:
                self.stats.restarts += 1
        return self.factory().start()

    def _usable(self, repl: LeanRepl | None) -> LeanRepl:
        if repl is None or not repl.alive:
            return self._fresh(repl)
        why = repl.worn_out(self.max_checks, self.rss_limit_mb)  # memory is sampled a few times a second
        if why is not None:
            log.info("restarting a Lean REPL after %s", why)
            return self._fresh(repl)
        return repl

    def check(self, code: str, follow_up: Callable[[Answer], str | None] | None = None) -> Outcome:
        """Run code on the base env; if follow_up(answer) gives a command, run it in the env produced."""
        repl = self._idle.get()
        start = time.perf_counter()
        try:
            repl = self._usable(repl)
            repl.checks += 1  # one check, however many commands it takes: max_checks counts proofs
            answer = repl.run(code)
            extra = None
            command = follow_up(answer) if follow_up is not None else None
            if command is not None and "env" in answer:
                extra = repl.run(command, env=answer["env"])
            return Outcome(answer, None, extra, time.perf_counter() - start)
        except ReplFailure as failure:
            self._count(failure)
            return Outcome(None, failure, None, time.perf_counter() - start)
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self.stats.checks += 1
                self.stats.busy_s += elapsed
            self._idle.put(repl if repl is not None and repl.alive else None)

    def _count(self, failure: ReplFailure) -> None:
        with self._lock:
            self.stats.restarts += 1  # the failed process is gone; the next check starts a new one
            if failure.fault is Fault.TIMEOUT:
                self.stats.timeouts += 1
            elif failure.fault is Fault.GARBAGE:
                self.stats.garbage += 1
            else:
                self.stats.crashes += 1
        log.warning("Lean REPL %s; it will be replaced", failure)


class PoolSet:
    """One pool per header: statements with different imports never share a process."""

    def __init__(self, make_pool: Callable[[str], ReplPool]):
        self._make = make_pool
        self._pools: dict[str, ReplPool] = {}
        self._lock = threading.Lock()

    def get(self, header: str) -> ReplPool:
        with self._lock:
            pool = self._pools.get(header)
            if pool is None:
                pool = self._pools[header] = self._make(header).__enter__()
            return pool

    def stats(self) -> dict:
        total = PoolStats()
        for p in self._pools.values():
            for f in ("checks", "restarts", "timeouts", "crashes", "garbage", "busy_s"):
                setattr(total, f, getattr(total, f) + getattr(p.stats, f))
        return total.as_dict()

    def close(self) -> None:
        for p in self._pools.values():
            p.__exit__(None, None, None)
        self._pools.clear()
