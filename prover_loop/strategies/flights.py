"""Single flight for shared proposals (Generate.shared, Check.shared: decompose's lemmas): within a pass the
first of equal proposals goes out, and every later one waits on its answer and is told it as its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from prover_loop.strategies.base import Generate


@dataclass(slots=True)
class Flight:
    """A shared proposal asked once: its answer once known, and who waits on it meanwhile."""

    done: bool = False
    answer: Any = None
    waiters: list = field(default_factory=list)  # (unit, lane, the Generate or Check)


def flight_key(lane, p) -> str:
    """Equal shared proposals: a request's every field but its key (a name for errors), with its role and the
    independent attempt asking (Task.attempt: evaluation's attempts stay independent when no seed is set); a
    check's code as Lean gets it."""
    import json

    from flywheel.hashing import sha256_text

    if isinstance(p, Generate):
        r = p.request
        return sha256_text("generate", str(p.role), str(lane.task.attempt), json.dumps(r.prompt, ensure_ascii=False),
                           str(r.n), repr(r.temperature), repr(r.top_p), str(r.max_tokens), json.dumps(list(r.stop)),
                           str(r.seed))
    st = lane.task.statement
    return sha256_text("check", p.kind.value, st.header, st.preamble, p.statement or lane.task.goal, p.proof)


class Flights:
    """The shared proposals of one pass, by flight_key. `tell(entry, answer)` hands an answer to a waiter;
    `shared` counts the proposals answered by an equal one's answer."""

    def __init__(self, tell: Callable[[tuple, Any], None]):
        self._tell = tell
        self._flights: dict[str, Flight] = {}
        self.shared = 0

    def first(self, entry: tuple) -> bool:
        """Whether (unit, lane, proposal) goes out: True unless it is shared and an equal one went out before
        (then it is told that one's answer, now or once it comes)."""
        _, lane, p = entry
        if not p.shared:
            return True
        key = flight_key(lane, p)
        flight = self._flights.get(key)
        if flight is None:
            self._flights[key] = Flight()
            return True
        self.shared += 1
        if flight.done:
            self._tell(entry, flight.answer)
        else:
            flight.waiters.append(entry)
        return False

    def answered(self, entry: tuple, answer) -> None:
        """A proposal that went out has its answer (its own asker told already): those waiting on it are told."""
        _, lane, p = entry
        if not p.shared:
            return
        flight = self._flights[flight_key(lane, p)]
        flight.done, flight.answer = True, answer
        waiters, flight.waiters = flight.waiters, []
        for waiter in waiters:
            self._tell(waiter, answer)
