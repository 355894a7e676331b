"""Early stop in canonical order: the stored prefix does not depend on timing or worker count."""

import queue
import random
import threading
import time

import pytest

from prover_loop.schedule import END, Group, verify_groups


def _run(groups, outcome, workers, delays=None, stop=None):
    q = queue.Queue()
    for g in groups:
        q.put(g)
    q.put(END)
    done, checked = [], []
    lock = threading.Lock()

    def check(c):
        if delays:
            time.sleep(delays[c])
        with lock:
            checked.append(c)
        return outcome[c]

    verify_groups(q, check, lambda v: v == "ok", workers, lambda g: done.append((g.key, g.outcome())), stop)
    return dict(done), checked


def _groups(spec):
    return [Group(key, list(cands)) for key, cands in spec.items()]


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_prefix_up_to_first_success_whatever_the_timing(workers):
    spec = {"a": ["a0", "a1", "a2", "a3"], "b": ["b0", "b1"], "c": ["c0", "c1", "c2"], "d": []}
    outcome = {"a0": "no", "a1": "no", "a2": "ok", "a3": "ok", "b0": "no", "b1": "no", "c0": "ok", "c1": "ok", "c2": "no"}
    rng = random.Random(workers)
    delays = {c: rng.uniform(0, 0.02) for c in outcome}
    done, checked = _run(_groups(spec), outcome, workers, delays)
    assert done["a"] == [("a0", "no"), ("a1", "no"), ("a2", "ok")]
    assert done["b"] == [("b0", "no"), ("b1", "no")]
    assert done["c"] == [("c0", "ok")]
    assert done["d"] == []
    if workers == 1:  # serially nothing past a success is ever checked
        assert "a3" not in checked and "c1" not in checked and "c2" not in checked


def test_a_later_success_waits_for_earlier_candidates():
    # c1 succeeds first in time, but c0 (slow) also succeeds: c0 is the first success in order.
    outcome = {"c0": "ok", "c1": "ok"}
    done, _ = _run(_groups({"c": ["c0", "c1"]}), outcome, 2, {"c0": 0.05, "c1": 0.0})
    assert done["c"] == [("c0", "ok")]


def test_stop_reports_no_unfinished_group():
    stop = threading.Event()
    stop.set()
    done, checked = _run(_groups({"a": ["a0"]}), {"a0": "ok"}, 2, stop=stop)
    assert done == {} and checked == []


def test_groups_arrive_while_checks_run():
    q = queue.Queue()
    results = []

    def producer():
        for i in range(5):
            time.sleep(0.01)
            q.put(Group(f"g{i}", [f"g{i}x"]))
        q.put(END)

    t = threading.Thread(target=producer)
    t.start()
    verify_groups(q, lambda c: "ok", lambda v: v == "ok", 2, lambda g: results.append(g.key))
    t.join()
    assert sorted(results) == [f"g{i}" for i in range(5)]
