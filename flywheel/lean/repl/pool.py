"""REPL processes for every header under one cap, keyed by the header's imports: the rest of a header (open,
set_option) is an env built once in a process of its imports and reused by every check of that header, so
headers that import the same modules share processes (with Mathlib a process is a full import: several
seconds and gigabytes). A check borrows an idle process of its imports (one that holds its header's env
first), never a dead or busy one; a process keeps its headers' envs least recently used first, dropping
the oldest past `max_envs`. When no process of the imports is idle, imports with no process take a free
slot; imports that have one take a free slot only while every process is held by a check (as many checks
in flight as processes): a process idle elsewhere means the callers are fewer than the processes, and
one more would be a start (an import of Mathlib: seconds of CPU) that no check needs, so the check waits
for its imports' own as at a full cap. At the cap (or so held back) an idle process of other imports is
closed to make room: at once when the imports have no process at all, else only once it has sat idle
`rebalance_s` (so that two import sets checked in turn do not trade processes on every check).
Processes are replaced after a fault, when their resident memory passes the limit, or after N checks when
a count is configured; a new process rebuilds the envs its checks need."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from flywheel.lean.repl.protocol import Answer
from flywheel.lean.repl.client import Fault, HeaderError, LeanRepl, ReplFailure

log = logging.getLogger(__name__)

MAX_ENVS = 64  # header envs a process keeps (the REPL keeps every env; this bounds our table, not its memory)
REBALANCE_S = 2.0


@functools.lru_cache(maxsize=1024)  # a run has a few headers, each asked on every check
def split_header(header: str) -> tuple[str, str]:
    """(the import lines at the top of a header, the rest): what a process loads, what an env adds."""
    lines = header.splitlines(keepends=True)
    k = 0
    while k < len(lines) and (not lines[k].strip() or lines[k].lstrip().startswith("import ")):
        k += 1
    imports = [line.strip() for line in lines[:k] if line.strip()]
    return "".join(line + "\n" for line in imports), "".join(lines[k:])  # spacing is not part of the key


@dataclass(slots=True)
class PoolStats:
    checks: int = 0
    started: int = 0  # processes started, replacements included
    restarts: int = 0
    timeouts: int = 0
    crashes: int = 0
    garbage: int = 0
    oversize: int = 0  # answers past max_answer_mb (their processes replaced)
    retries: int = 0  # checks run again on a fresh process after theirs died
    evictions: int = 0  # idle processes closed to make room for other imports'
    env_builds: int = 0  # header envs built (once per header and process)
    env_evictions: int = 0  # header envs a process stopped keeping, past max_envs
    busy_s: float = 0.0

    def as_dict(self) -> dict:
        per = self.busy_s / self.checks if self.checks else 0.0
        return {"checks": self.checks, "started": self.started, "restarts": self.restarts, "timeouts": self.timeouts,
                "crashes": self.crashes, "garbage": self.garbage, "oversize": self.oversize, "retries": self.retries,
                "evictions": self.evictions, "env_builds": self.env_builds, "env_evictions": self.env_evictions,
                "busy_s": round(self.busy_s, 3), "s_per_check": round(per, 4)}


@dataclass(slots=True)
class Outcome:
    answer: Answer | None  # None when the check failed
    failure: ReplFailure | None
    env_answer: Answer | None = None  # a follow-up command's answer, when one was asked
    seconds: float = 0.0


@dataclass(slots=True)
class _Imports:
    idle: list[LeanRepl] = field(default_factory=list)  # most recently returned last
    live: int = 0  # its processes, idle, busy or starting
    idle_since: dict[int, float] = field(default_factory=dict)  # id(repl) -> when it came back


class ReplPool:
    """`with ReplPool(factory, size) as pool: pool.check(header, code)` from any number of threads;
    factory(imports) makes an unstarted LeanRepl that loads those import lines. At most `size` processes in
    all. split(header) gives (imports, rest); the default keys processes by the import lines."""

    def __init__(self, factory: Callable[[str], LeanRepl], size: int, max_checks: int = 0, rss_limit_mb: float = 0,
                 max_envs: int = MAX_ENVS, rebalance_s: float = REBALANCE_S,
                 split: Callable[[str], tuple[str, str]] = split_header):
        self.factory, self.size = factory, max(1, size)
        self.max_checks, self.rss_limit_mb = max_checks, rss_limit_mb
        self.max_envs, self.rebalance_s, self.split = max_envs, rebalance_s, split
        self._imports: OrderedDict[str, _Imports] = OrderedDict()  # least recently used first
        self._live = 0
        self._in_flight = 0  # checks between asking for a process and giving it back
        self._closed = False
        self._cond = threading.Condition()
        self._carry: bool | None = None  # whether this REPL's envs keep their scope: probed once
        self._bad: dict[str, str] = {}  # header -> why its env does not build (Lean says so the same each time)
        self.stats = PoolStats()

    def __enter__(self) -> "ReplPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Closes the idle processes now; busy ones are closed when their check returns."""
        with self._cond:
            self._closed = True
            idle = [r for h in self._imports.values() for r in h.idle]
            for h in self._imports.values():
                h.live -= len(h.idle)
                h.idle.clear()
                h.idle_since.clear()
            self._live -= len(idle)
        for repl in idle:
            repl.close()

    # slots
    def _borrow(self, imports: str, rest: str) -> tuple[LeanRepl | None, LeanRepl | None]:
        """An idle process of these imports (one holding the rest's env first), or None with a slot held for a
        new one; and the process evicted to free that slot, for the caller to close outside the lock.
        Processes start lazily, in the thread that needs one, so start-up is paid in parallel; imports that
        have a process grow into a free slot only while no process is idle anywhere (see the module's
        docstring)."""
        with self._cond:
            self._in_flight += 1
            while True:
                entry = self._imports.setdefault(imports, _Imports())
                self._imports.move_to_end(imports)
                if entry.idle:
                    at = next((k for k in range(len(entry.idle) - 1, -1, -1) if rest in entry.idle[k].envs), -1)
                    repl = entry.idle.pop(at)
                    entry.idle_since.pop(id(repl), None)
                    return repl, None
                if self._live < self.size and (not entry.live or self._live < self._in_flight):
                    self._live += 1
                    entry.live += 1
                    return None, None
                victim, wait = self._victim(entry)
                if victim is not None:
                    old = self._imports[victim]
                    repl = old.idle.pop(0)
                    old.idle_since.pop(id(repl), None)
                    old.live -= 1
                    if not old.live:
                        del self._imports[victim]
                    entry.live += 1
                    self.stats.evictions += 1
                    return None, repl
                self._cond.wait(wait)  # a process comes back (or dies), or an idle one ages enough to give way

    def _victim(self, entry: _Imports) -> tuple[str | None, float | None]:
        """(the imports whose oldest idle process gives way, or None; else how long to wait before asking
        again, None: until a process comes back). Least recently used imports first."""
        now, soonest = time.monotonic(), None
        for key, other in self._imports.items():
            if other is entry or not other.idle:
                continue
            if not entry.live:
                return key, None
            age = now - other.idle_since.get(id(other.idle[0]), now)
            if age >= self.rebalance_s:
                return key, None
            left = self.rebalance_s - age
            soonest = left if soonest is None else min(soonest, left)
        return None, soonest

    def _give_back(self, imports: str, repl: LeanRepl | None) -> None:
        dead = None
        with self._cond:
            self._in_flight -= 1
            entry = self._imports[imports]  # never dropped while it has a live process
            if repl is not None and repl.alive and not self._closed:
                entry.idle.append(repl)
                entry.idle_since[id(repl)] = time.monotonic()
            else:
                dead = repl
                entry.live -= 1
                self._live -= 1
                if not entry.live:
                    del self._imports[imports]
            self._cond.notify_all()  # waiters of any imports: one may use it, another may now evict it
        if dead is not None:
            dead.close()

    def _usable(self, imports: str, repl: LeanRepl | None) -> LeanRepl:
        if repl is not None:
            why = "it died while idle" if not repl.alive else repl.worn_out(self.max_checks, self.rss_limit_mb)
            if why is None:
                return repl
            log.info("restarting a Lean REPL after %s", why)
            repl.close()
            with self._cond:
                self.stats.restarts += 1
        with self._cond:
            self.stats.started += 1
        return self.factory(imports).start()

    def _header_env(self, repl: LeanRepl, header: str, rest: str) -> tuple[int | None, str]:
        """The env and the prefix a check of this header runs with on this process (LeanRepl.header_env)."""
        if not rest.strip():
            return repl.base_env, ""
        if self._carry is None:
            self._carry = repl.scopes_carry()
        kept = len(repl.envs)
        try:
            line0 = header.count("\n", 0, len(header) - len(rest)) if header.endswith(rest) else 0
            env, prefix, built = repl.header_env(rest, self._carry, self.max_envs, line0)
        except HeaderError as e:
            with self._cond:
                self._bad[header] = str(e)
            raise
        if built:
            with self._cond:
                self.stats.env_builds += 1
                self.stats.env_evictions += kept + 1 - len(repl.envs)
        return env, prefix

    # checks
    def check(self, header: str, code: str, follow_up: Callable[[Answer], str | None] | None = None,
              options: dict | None = None) -> Outcome:
        """Run code on the header's env, with the command's options (`allTactics`); if follow_up(answer)
        gives a command, run it in the env produced.
        A check whose process died (a crash, the memory cap) runs once more on a fresh process before its
        failure is returned: the death may have been the process's, not the proof's. A timeout is not
        retried: it would most likely cost a second timeout. HeaderError when the header's part after its
        imports does not elaborate (the process goes on serving other headers)."""
        if header in self._bad:
            raise HeaderError(self._bad[header])
        imports, rest = self.split(header)
        repl, evicted = self._borrow(imports, rest)
        if evicted is not None:
            evicted.close()
        start = time.perf_counter()
        retried = False
        try:
            while True:
                try:
                    current, repl = repl, None
                    repl = self._usable(imports, current)
                    env, prefix = self._header_env(repl, header, rest)
                    repl.checks += 1  # one check, however many commands it takes: max_checks counts proofs
                    answer = repl.run_under(prefix, code, env, options)
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
            self._give_back(imports, repl)

    def _count(self, failure: ReplFailure) -> None:
        with self._cond:
            self.stats.restarts += 1  # the failed process is gone; a new one takes its place
            if failure.fault is Fault.TIMEOUT:
                self.stats.timeouts += 1
            elif failure.fault is Fault.GARBAGE:
                self.stats.garbage += 1
            elif failure.fault is Fault.OVERSIZE:
                self.stats.oversize += 1
            else:
                self.stats.crashes += 1
        log.warning("Lean REPL %s; it will be replaced", failure)

    def processes(self) -> int:
        """Processes alive or starting, across all imports."""
        with self._cond:
            return self._live
