"""Verification with early stop, deterministic whatever the timing.

Each statement has its candidates in a canonical order (statement and negation interleaved: S0, N0, S1,
N1, ...). The stored outcome is that order's prefix up to the first proved candidate, so a serial run
and a parallel one store the same rows; in-flight work past a success is wasted, never recorded.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

C = TypeVar("C")  # a candidate
V = TypeVar("V")  # its verdict


@dataclass(slots=True)
class Group(Generic[C, V]):
    """The candidates of one statement, verified in order until the first success."""

    key: str
    candidates: list[C]
    verdicts: dict[int, V] = field(default_factory=dict)
    next_index: int = 0
    first_success: int | None = None
    in_flight: int = 0

    def wanted(self, i: int) -> bool:
        return self.first_success is None or i < self.first_success

    def done(self) -> bool:
        limit = len(self.candidates) if self.first_success is None else self.first_success + 1
        return self.in_flight == 0 and all(i in self.verdicts for i in range(limit))

    def outcome(self) -> list[tuple[C, V]]:
        limit = len(self.candidates) if self.first_success is None else self.first_success + 1
        return [(self.candidates[i], self.verdicts[i]) for i in range(limit)]


END = object()  # put on the queue after the last group


def verify_groups(
    groups: "queue.Queue",
    check: Callable[[C], V],
    succeeded: Callable[[V], bool],
    workers: int,
    on_done: Callable[[Group[C, V]], None],
    stop: threading.Event | None = None,
) -> None:
    """Keep `workers` checks in flight across groups, taking new groups from the queue as a producer
    (generation) puts them there, until END; call on_done as each group finishes. When `stop` is set,
    no new check starts; in-flight ones finish and their groups are not reported."""
    active: deque[Group[C, V]] = deque()
    exhausted = False
    futures: dict[Future, tuple[Group[C, V], int]] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
        while True:
            stopping = stop is not None and stop.is_set()
            while not stopping and len(futures) < workers:
                picked = _next_candidate(active)
                if picked is None:
                    # Block for generation only when no check is running; otherwise just look.
                    group = None if exhausted else _take(groups, block=not futures)
                    if group is END:
                        exhausted = True
                    if group is None or group is END:
                        break
                    if group.candidates:
                        active.append(group)
                    else:
                        on_done(group)
                    continue
                group, i = picked
                group.in_flight += 1
                futures[pool.submit(check, group.candidates[i])] = (group, i)
            if not futures:
                if stopping or (exhausted and not active):
                    return
                continue
            # With every slot busy (or nothing more to come) only a finished check can change anything, so
            # sleep until one does; otherwise look at the generation queue again soon.
            idle_slots = len(futures) < workers and not exhausted and not stopping
            finished, _ = wait(list(futures), timeout=0.05 if idle_slots else None, return_when=FIRST_COMPLETED)
            for fut in finished:
                group, i = futures.pop(fut)
                group.in_flight -= 1
                verdict = fut.result()
                group.verdicts[i] = verdict
                if succeeded(verdict) and (group.first_success is None or i < group.first_success):
                    group.first_success = i
                if group.done() and group in active:
                    active.remove(group)
                    if not (stop is not None and stop.is_set()):
                        on_done(group)


def _take(groups: "queue.Queue", block: bool):
    try:
        return groups.get(timeout=0.05) if block else groups.get_nowait()
    except queue.Empty:
        return None


def _next_candidate(active: deque[Group]) -> tuple[Group, int] | None:
    """Round-robin over the active groups: the next wanted, not yet started candidate."""
    for _ in range(len(active)):
        group = active[0]
        active.rotate(-1)
        while group.next_index < len(group.candidates) and not group.wanted(group.next_index):
            group.next_index = len(group.candidates)
        if group.next_index < len(group.candidates):
            i = group.next_index
            group.next_index += 1
            return group, i
    return None
