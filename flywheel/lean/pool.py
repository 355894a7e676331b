"""REPL processes for every header under one cap. A check borrows an idle process of its header, never a dead
or busy one; when none is idle and the cap is reached, an idle process of the least recently used header is
closed to make room (with Mathlib each process holds several GB, so headers x workers must never be the
bound). Processes are replaced after a fault, when their resident memory passes the limit, or after N checks
when a count is configured."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
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
    retries: int = 0  # checks run again on a fresh process after theirs died
    evictions: int = 0  # idle processes closed to make room for another header's
    busy_s: float = 0.0

    def as_dict(self) -> dict:
        per = self.busy_s / self.checks if self.checks else 0.0
        return {"checks": self.checks, "restarts": self.restarts, "timeouts": self.timeouts,
                "crashes": self.crashes, "garbage": self.garbage, "retries": self.retries,
                "evictions": self.evictions, "busy_s": round(self.busy_s, 3), "s_per_check": round(per, 4)}


@dataclass(slots=True)
class Outcome:
    answer: Answer | None  # None when the check failed
    failure: ReplFailure | None
    env_answer: Answer | None = None  # a follow-up command's answer, when one was asked
    seconds: float = 0.0


@dataclass(slots=True)
class _Header:
    idle: list[LeanRepl] = field(default_factory=list)
    live: int = 0  # its processes, idle, busy or starting


class ReplPool:
    """`with ReplPool(factory, size) as pool: pool.check(header, code)` from any number of threads;
    factory(header) makes an unstarted LeanRepl that imports it. At most `size` processes in all."""

    def __init__(self, factory: Callable[[str], LeanRepl], size: int, max_checks: int = 0, rss_limit_mb: float = 0):
        self.factory, self.size = factory, max(1, size)
        self.max_checks, self.rss_limit_mb = max_checks, rss_limit_mb
        self._headers: OrderedDict[str, _Header] = OrderedDict()  # least recently used first
        self._live = 0
        self._closed = False
        self._cond = threading.Condition()
        self.stats = PoolStats()

    def __enter__(self) -> "ReplPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Closes the idle processes now; busy ones are closed when their check returns."""
        with self._cond:
            self._closed = True
            idle = [r for h in self._headers.values() for r in h.idle]
            for h in self._headers.values():
                h.live -= len(h.idle)
                h.idle.clear()
            self._live -= len(idle)
        for repl in idle:
            repl.close()

    # slots
    def _borrow(self, header: str) -> tuple[LeanRepl | None, LeanRepl | None]:
        """An idle process of this header, or None with a slot held for a new one; and the process evicted to
        free that slot, for the caller to close outside the lock. Processes start lazily, in the thread that
        needs one, so start-up is paid in parallel."""
        with self._cond:
            while True:
                entry = self._headers.setdefault(header, _Header())
                self._headers.move_to_end(header)
                if entry.idle:
                    return entry.idle.pop(), None
                if self._live < self.size:
                    self._live += 1
                    entry.live += 1
                    return None, None
                victim = next((h for h in self._headers if self._headers[h].idle), None)  # LRU first
                if victim is not None:
                    old = self._headers[victim]
                    repl = old.idle.pop(0)
                    old.live -= 1
                    if not old.live:
                        del self._headers[victim]
                    entry.live += 1
                    self.stats.evictions += 1
                    return None, repl
                self._cond.wait()  # every process is busy: one comes back (or dies) soon

    def _give_back(self, header: str, repl: LeanRepl | None) -> None:
        dead = None
        with self._cond:
            entry = self._headers[header]  # never dropped while it has a live process
            if repl is not None and repl.alive and not self._closed:
                entry.idle.append(repl)
            else:
                dead = repl
                entry.live -= 1
                self._live -= 1
                if not entry.live:
                    del self._headers[header]
            self._cond.notify()  # whatever came back lets one waiter on, whichever its header
        if dead is not None:
            dead.close()

    def _usable(self, header: str, repl: LeanRepl | None) -> LeanRepl:
        if repl is not None:
            why = "it died while idle" if not repl.alive else repl.worn_out(self.max_checks, self.rss_limit_mb)
            if why is None:
                return repl
            log.info("restarting a Lean REPL after %s", why)
            repl.close()
            with self._cond:
                self.stats.restarts += 1
        return self.factory(header).start()

    # checks
    def check(self, header: str, code: str, follow_up: Callable[[Answer], str | None] | None = None,
              options: dict | None = None) -> Outcome:
        """Run code on the header's base env, with the command's options (`allTactics`); if follow_up(answer)
        gives a command, run it in the env produced.
        A check whose process died (a crash, the memory cap) runs once more on a fresh process before its
        failure is returned: the death may have been the process's, not the proof's. A timeout is not
        retried: it would most likely cost a second timeout."""
        repl, evicted = self._borrow(header)
        if evicted is not None:
            evicted.close()
        start = time.perf_counter()
        retried = False
        try:
            while True:
                try:
                    current, repl = repl, None
                    repl = self._usable(header, current)
                    repl.checks += 1  # one check, however many commands it takes: max_checks counts proofs
                    answer = repl.run(code, options=options)
                    command = follow_up(answer) if follow_up is not None else None
                    extra = repl.run(command, env=answer["env"]) if command is not None and "env" in answer else None
                    return Outcome(answer, None, extra, time.perf_counter() - start)
                except ReplFailure as failure:
                    self._count(failure)
                    if repl is not None:
                        repl.close()
                        repl = None
                    if failure.fault is not Fault.DIED or retried:
                        return Outcome(None, failure, None, time.perf_counter() - start)
                    retried = True
                    with self._cond:
                        self.stats.retries += 1
                    log.warning("retrying a check on a fresh Lean REPL after its process died")
        finally:
            elapsed = time.perf_counter() - start
            with self._cond:
                self.stats.checks += 1
                self.stats.busy_s += elapsed
            self._give_back(header, repl)

    def _count(self, failure: ReplFailure) -> None:
        with self._cond:
            self.stats.restarts += 1  # the failed process is gone; a new one takes its place
            if failure.fault is Fault.TIMEOUT:
                self.stats.timeouts += 1
            elif failure.fault is Fault.GARBAGE:
                self.stats.garbage += 1
            else:
                self.stats.crashes += 1
        log.warning("Lean REPL %s; it will be replaced", failure)

    def processes(self) -> int:
        """Processes alive or starting, across all headers."""
        with self._cond:
            return self._live
