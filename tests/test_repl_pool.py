"""A REPL process and the pool survive every injected fault, and the check is recorded."""

import shlex
import threading

import pytest

from flywheel.errors import LeanError
from flywheel.lean.pool import ReplPool
from flywheel.lean.repl import Fault, LeanRepl, ReplFailure
from tests.conftest import HEADER


def _repl(cmd, **kw):
    return LeanRepl(shlex.split(cmd), HEADER, timeout_s=kw.pop("timeout_s", 2.0), **kw)


def test_header_once_then_checks_on_its_env(fake_repl):
    with _repl(fake_repl) as repl:
        assert repl.base_env == 0
        answer = repl.run("theorem t : 1 = 1 := by sorry")
        assert answer["sorries"] and answer["env"] == 1
        axioms = repl.run("#print axioms t", env=answer["env"])
        assert "sorryAx" in axioms["messages"][0]["data"]


@pytest.mark.parametrize("marker, fault", [("hang", Fault.TIMEOUT), ("die", Fault.DIED), ("garbage", Fault.GARBAGE)])
def test_faults_kill_the_whole_group(fake_repl, marker, fault):
    repl = _repl(fake_repl, timeout_s=1.0).start()
    pid = repl.proc.pid
    with pytest.raises(ReplFailure) as err:
        repl.run(f"theorem t : True := by\n  trivial -- fake:{marker}")
    assert err.value.fault is fault
    assert not repl.alive
    import os

    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_a_repl_that_cannot_start_says_so():
    with pytest.raises(LeanError, match="cannot start"):
        LeanRepl(["/nonexistent/repl"], HEADER).start()


def test_memory_cap_applies(fake_repl):
    # 200 MB address space is too small for a 400 MB allocation: the process dies, the pool goes on.
    pool = ReplPool(lambda: _repl(fake_repl, memory_limit_mb=300), size=1)
    with pool:
        out = pool.check("theorem t : True := by\n  trivial -- fake:grow=400")
        assert out.failure is not None and out.failure.fault is Fault.DIED
        assert pool.check("theorem t : True := trivial").answer["env"] >= 1
    assert pool.stats.crashes == 1 and pool.stats.restarts == 1


def test_pool_recycles_after_n_checks_and_on_resident_memory(fake_repl):
    pool = ReplPool(lambda: _repl(fake_repl), size=1, max_checks=3)
    with pool:
        for _ in range(7):
            assert pool.check("theorem t : True := trivial").failure is None
    assert pool.stats.restarts == 2
    pool = ReplPool(lambda: _repl(fake_repl), size=1, rss_limit_mb=60)
    with pool:
        pool.check("theorem t : True := by\n  trivial -- fake:grow=120")
        pool.check("theorem t : True := trivial")  # the grown process is replaced before this one
    assert pool.stats.restarts == 1


def test_restart_budget_counts_checks_not_commands(fake_repl):
    # a proof and its `#print axioms` are one check: max_checks=3 lets each process take three proofs
    pool = ReplPool(lambda: _repl(fake_repl), size=1, max_checks=3)
    with pool:
        for _ in range(6):
            out = pool.check("theorem t : True := trivial", lambda answer: "#print axioms t")
            assert out.env_answer is not None and "depends on axioms" in out.env_answer["messages"][0]["data"]
    assert pool.stats.checks == 6 and pool.stats.restarts == 1


def test_pool_survives_faults_under_concurrency(fake_repl):
    codes = ["theorem t : True := trivial", "theorem t : True := by\n  trivial -- fake:die",
             "theorem t : True := by\n  trivial -- fake:garbage", "theorem t : True := by\n  trivial -- fake:hang"] * 3
    results = []
    pool = ReplPool(lambda: _repl(fake_repl, timeout_s=1.0), size=2)
    with pool:
        threads = [threading.Thread(target=lambda c=c: results.append(pool.check(c))) for c in codes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert pool.check("theorem t : True := trivial").failure is None
    assert len(results) == len(codes)
    assert sum(r.failure is None for r in results) == 3
    assert pool.stats.timeouts == 3 and pool.stats.crashes == 3 and pool.stats.garbage == 3
    assert pool.stats.checks == len(codes) + 1


def test_an_answer_out_of_order_ends_the_process(fake_repl):
    """Code that prints a forged answer before Lean's own cannot know which env number is due."""
    import shlex

    from flywheel.lean.repl import Fault, LeanRepl, ReplFailure

    with LeanRepl(shlex.split(fake_repl), "import Mathlib", timeout_s=10) as repl:
        assert repl.run("theorem a : True := trivial")["env"] == 1
        with pytest.raises(ReplFailure) as failure:
            repl.run("theorem b : False := sorry -- fake:forge=7777")
        assert failure.value.fault is Fault.GARBAGE and "env 7777 where env 2" in str(failure.value)
        assert not repl.alive
