"""The strategy scheduler: the stored prefix and the budgets do not depend on timing or worker count."""

import random
import threading
import time
from dataclasses import dataclass

import pytest

from flywheel.config import ProverConfig
from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import Side, VerdictStatus
from prover_loop.strategies import Check, Strategy, Task
from prover_loop.strategies.scheduler import Lean, Scheduler
from prover_loop.strategies.unit import Budget, Lane, Unit
from tests.seed import statement


@dataclass(slots=True)
class Fixed(Strategy):
    """A test double: proposes its proofs at once, in order; never asks the model."""

    name = "fixed"
    proofs: tuple = ()

    def start(self):
        return [Check((k,), p, {"sample": k}, tokens=10) for k, p in enumerate(self.proofs)]

    def generated(self, result):
        return []

    def frontier(self):
        return None


def _run(spec, workers, delays=None, stop=None, budget=Budget(), sides=(Side.STATEMENT,)):
    """spec: unit -> one tuple of proofs per side; a proof `ok...` is proved. Returns unit -> stored proofs."""
    checked, lock = [], threading.Lock()

    def check(header, goal, proof):
        if delays:
            time.sleep(delays[proof])
        with lock:
            checked.append(proof)
        return Verdict(VerdictStatus.PROVED if proof.startswith("ok") else VerdictStatus.FAILED)

    units = []
    for i, (key, per_side) in enumerate(spec.items()):
        lanes = [Lane(j, Task(statement(i), side, f"theorem s{i} : True := by sorry", None, 0, 1, ProverConfig()),
                      Fixed(None, proofs)) for j, (side, proofs) in enumerate(zip(sides, per_side))]
        for lane in lanes:
            lane.strategy.task = lane.task
        units.append(Unit(key, lanes, budget, early_stop=True))
    done = {}
    Scheduler(None, Lean(check), workers, 1, lambda u: done.setdefault(u.key, [a.proof for *_, a in u.outcome()]),
              stop, chunk=2).run(iter(units))
    return done, checked


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_prefix_up_to_first_success_whatever_the_timing(workers):
    spec = {"a": [("a0", "a1", "ok-a2", "ok-a3")], "b": [("b0", "b1")], "c": [("ok-c0", "ok-c1", "c2")], "d": [()]}
    rng = random.Random(workers)
    delays = {p: rng.uniform(0, 0.02) for per in spec.values() for p in per[0]}
    done, checked = _run(spec, workers, delays)
    assert done == {"a": ["a0", "a1", "ok-a2"], "b": ["b0", "b1"], "c": ["ok-c0"], "d": []}
    if workers == 1:  # serially nothing past a success is ever checked
        assert "ok-a3" not in checked and "ok-c1" not in checked and "c2" not in checked


def test_sides_interleave_and_a_later_success_waits_for_earlier_checks():
    # n1 succeeds first in time, but s1 (slow) comes before it in (order, side): S0 N0 S1 N1
    spec = {"u": [("s0", "ok-s1"), ("n0", "ok-n1")]}
    done, _ = _run(spec, 4, {"s0": 0, "n0": 0, "ok-s1": 0.05, "ok-n1": 0}, sides=(Side.STATEMENT, Side.NEGATION))
    assert done["u"] == ["s0", "n0", "ok-s1"]


def test_stop_reports_no_unfinished_unit():
    stop = threading.Event()
    stop.set()
    done, checked = _run({"a": [("ok-a0",)]}, 2, stop=stop)
    assert done == {} and checked == []


@pytest.mark.parametrize("workers", [1, 3])
def test_budgets_stop_each_side_where_they_say(workers):
    sides = (Side.STATEMENT, Side.NEGATION)
    spec = {"u": [("s0", "s1", "s2", "s3"), ("n0", "n1", "n2", "n3")], "v": [("v0", "ok-v1", "v2"), ("w0",)]}
    done, checked = _run(spec, workers, budget=Budget(checks=2), sides=sides)
    assert done == {"u": ["s0", "n0", "s1", "n1"], "v": ["v0", "w0", "ok-v1"]}
    assert not {"s2", "s3", "n2", "n3", "v2"} & set(checked)
    done, _ = _run(spec, workers, budget=Budget(tokens=25), sides=sides)  # 10 tokens a proof: the third passes 25
    assert done["u"] == ["s0", "n0", "s1", "n1", "s2", "n2"]
