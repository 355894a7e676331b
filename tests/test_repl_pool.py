"""A REPL process and the pool survive every injected fault, and the check is recorded; the pool holds at most
its size in processes across headers, keyed by their imports (the rest of a header is an env in them), evicting
the least recently used idle one, never a busy one."""

import shlex
import threading

import pytest

from flywheel.errors import LeanError
from flywheel.lean.repl.pool import ReplPool
from flywheel.lean.repl.client import Fault, LeanRepl, ReplFailure
from tests.conftest import HEADER


def _repl(cmd, header=HEADER, **kw):
    return LeanRepl(shlex.split(cmd), header, timeout_s=kw.pop("timeout_s", 2.0), **kw)


def _pool(fake_repl, size=1, **kw):
    repl_kw = {k: kw.pop(k) for k in ("timeout_s", "memory_limit_mb") if k in kw}
    return ReplPool(lambda header: _repl(fake_repl, header, **repl_kw), size, **kw)


def test_header_once_then_checks_on_its_env(fake_repl):
    with _repl(fake_repl) as repl:
        assert repl.base_env == 0
        answer = repl.run("theorem t : 1 = 1 := by sorry")
        assert answer["sorries"] and answer["env"] == 1
        axioms = repl.run("#print axioms t", env=answer["env"])
        assert "sorryAx" in axioms["messages"][0]["data"]
        # a proof and `#print axioms` in one command: one answer, one env, each message at its own position
        both = repl.run("theorem u : 2 = 2 := (by\n  rfl\n)\n\n#print axioms u")
        assert both["env"] == 3 and both["messages"] == [
            {"severity": "info", "pos": {"line": 5, "column": 0}, "endPos": {"line": 5, "column": 13},
             "data": "'u' depends on axioms: [propext, Classical.choice, Quot.sound]"}]


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
    # 300 MB address space is too small for a 400 MB allocation: the process dies (twice: a death is retried
    # once on a fresh process), the pool goes on.
    with _pool(fake_repl, memory_limit_mb=300) as pool:
        out = pool.check(HEADER, "theorem t : True := by\n  trivial -- fake:grow=400")
        assert out.failure is not None and out.failure.fault is Fault.DIED
        assert pool.check(HEADER, "theorem t : True := trivial").answer["env"] >= 1
    assert pool.stats.crashes == 2 and pool.stats.restarts == 2 and pool.stats.retries == 1


def test_pool_recycles_after_n_checks_and_on_resident_memory(fake_repl):
    with _pool(fake_repl, max_checks=3) as pool:
        for _ in range(7):
            assert pool.check(HEADER, "theorem t : True := trivial").failure is None
    assert pool.stats.restarts == 2
    with _pool(fake_repl, rss_limit_mb=60) as pool:
        pool.check(HEADER, "theorem t : True := by\n  trivial -- fake:grow=120")
        pool.check(HEADER, "theorem t : True := trivial")  # the grown process is replaced before this one
    assert pool.stats.restarts == 1


def test_no_count_limit_unless_configured(fake_repl):
    from flywheel.config import LeanConfig

    assert LeanConfig().max_checks_per_process == 0
    with _pool(fake_repl, rss_limit_mb=LeanConfig().rss_limit_mb) as pool:
        for _ in range(300):
            assert pool.check(HEADER, "theorem t : True := trivial").failure is None
    assert pool.stats.restarts == 0


def test_restart_budget_counts_checks_not_commands(fake_repl):
    # a proof and its `#print axioms` are one check: max_checks=3 lets each process take three proofs
    with _pool(fake_repl, max_checks=3) as pool:
        for _ in range(6):
            out = pool.check(HEADER, "theorem t : True := trivial", lambda answer: "#print axioms t")
            assert out.env_answer is not None and "depends on axioms" in out.env_answer["messages"][0]["data"]
    assert pool.stats.checks == 6 and pool.stats.restarts == 1


def test_pool_survives_faults_under_concurrency(fake_repl):
    codes = ["theorem t : True := trivial", "theorem t : True := by\n  trivial -- fake:die",
             "theorem t : True := by\n  trivial -- fake:garbage", "theorem t : True := by\n  trivial -- fake:hang"] * 3
    results = []
    with _pool(fake_repl, 2, timeout_s=1.0) as pool:
        threads = [threading.Thread(target=lambda c=c: results.append(pool.check(HEADER, c))) for c in codes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert pool.check(HEADER, "theorem t : True := trivial").failure is None
    assert len(results) == len(codes)
    assert sum(r.failure is None for r in results) == 3
    # a death is retried once (and dies again); a timeout or garbage is not retried
    assert pool.stats.timeouts == 3 and pool.stats.crashes == 6 and pool.stats.garbage == 3
    assert pool.stats.retries == 3 and pool.stats.checks == len(codes) + 1


def test_a_check_whose_process_died_is_retried_once_on_a_fresh_one(fake_repl, tmp_path):
    with _pool(fake_repl, timeout_s=1.0) as pool:
        out = pool.check(HEADER, f"theorem t : True := by\n  trivial -- fake:die-once={tmp_path / 'died'}")
        assert out.failure is None and out.answer["env"] == 2  # the fresh process: imports 0, header env 1, check 2
        assert pool.check(HEADER, "theorem t : True := by\n  trivial -- fake:hang").failure.fault is Fault.TIMEOUT
    assert pool.stats.crashes == 1 and pool.stats.retries == 1 and pool.stats.timeouts == 1


def test_one_cap_across_imports_evicts_the_least_recently_used(fake_repl):
    headers = [f"import Mathlib\nimport M{k}\n\nopen N{k}\n" for k in range(4)]
    imports = [f"import Mathlib\nimport M{k}\n" for k in range(4)]
    started = []

    def factory(header):
        started.append(_repl(fake_repl, header))
        return started[-1]

    with ReplPool(factory, 2) as pool:
        for h in (headers[0], headers[1], headers[0], headers[2]):  # headers[1] is the least recently used
            assert pool.check(h, "theorem t : True := trivial").failure is None
        assert pool.processes() == 2 and pool.stats.evictions == 1
        assert [r.header for r in started if r.alive] == [imports[0], imports[2]]
        assert pool.check(headers[0], "theorem t : True := trivial").failure is None
        assert len(started) == 3  # a header still held is not started again

        most, stop = [0], threading.Event()

        def watch():
            while not stop.wait(0.002):
                most[0] = max(most[0], sum(r.alive for r in list(started)))

        watcher = threading.Thread(target=watch)
        watcher.start()
        work = [threading.Thread(target=lambda k=k: [pool.check(headers[(k + i) % 4], "theorem t : True := trivial")
                                                     for i in range(6)]) for k in range(6)]
        for t in work:
            t.start()
        for t in work:
            t.join()
        stop.set()
        watcher.join()
        assert most[0] <= 2 and pool.processes() <= 2
    assert pool.stats.checks == 4 + 1 + 36 and pool.stats.crashes == 0


def test_a_busy_process_is_never_evicted(fake_repl):
    other = "import Other\n\nopen Other\n"
    with _pool(fake_repl, timeout_s=5.0) as pool:
        slow = []
        busy = threading.Thread(target=lambda: slow.append(pool.check(HEADER, "theorem t : True := trivial -- fake:sleep=600")))
        busy.start()
        while pool.processes() == 0:  # the slow check holds the only slot
            threading.Event().wait(0.01)
        fast = pool.check(other, "theorem t : True := trivial")  # waits for it, then takes its place
        busy.join()
    assert slow[0].failure is None and fast.failure is None
    assert pool.stats.evictions == 1 and pool.stats.crashes == 0


def test_an_answer_out_of_order_ends_the_process(fake_repl):
    """Code that prints a forged answer before Lean's own cannot know which env number is due."""
    import shlex

    from flywheel.lean.repl.client import Fault, LeanRepl, ReplFailure

    with LeanRepl(shlex.split(fake_repl), "import Mathlib", timeout_s=10) as repl:
        assert repl.run("theorem a : True := trivial")["env"] == 1
        with pytest.raises(ReplFailure) as failure:
            repl.run("theorem b : False := sorry -- fake:forge=7777")
        assert failure.value.fault is Fault.GARBAGE and "env 7777 where env 2" in str(failure.value)
        assert not repl.alive


OPEN_FOO = "import Mathlib\n\nopen Foo\n"
NO_FOO = "import Mathlib\n\nopen Bar\n"
USES_FOO = "theorem t : opened_Foo = opened_Foo := rfl"


def _alone(fake_repl, header, code):
    with _pool(fake_repl) as pool:
        return pool.check(header, code).answer["messages"]


@pytest.mark.parametrize("scopes", ["carried", "reset"])
def test_headers_differing_in_an_open_share_a_process_with_their_own_envs(fake_repl, monkeypatch, scopes):
    # reset: envs keep declarations, not opens (the 2021 REPL): the header's rest goes before each check instead
    if scopes == "reset":
        monkeypatch.setenv("FAKE_REPL_SCOPES", "reset")
    alone = {h: _alone(fake_repl, h, USES_FOO) for h in (OPEN_FOO, NO_FOO)}
    assert alone[OPEN_FOO] == [] and alone[NO_FOO][0]["data"] == "unknown identifier 'opened_Foo'"
    assert alone[NO_FOO][0]["pos"] == {"line": 1, "column": 12}  # where it is in the code, whatever went before
    with _pool(fake_repl) as pool:
        got = [(h, pool.check(h, USES_FOO).answer["messages"]) for h in (OPEN_FOO, NO_FOO) * 3]
        assert pool.stats.started == 1 and pool.stats.env_builds == 2 and pool.stats.evictions == 0
    assert all(messages == alone[h] for h, messages in got)


def test_a_process_keeps_its_latest_header_envs(fake_repl):
    headers = [f"import Mathlib\n\nopen Foo N{k}\n" for k in range(3)]
    with _pool(fake_repl, max_envs=2) as pool:
        for h in headers + headers[-1:] + headers[:1]:
            assert pool.check(h, USES_FOO).answer["messages"] == []
        # the third header's env pushes out the first's; the first is built again when it comes back
        assert pool.stats.env_builds == 4 and pool.stats.env_evictions == 2 and pool.stats.started == 1


def test_a_header_that_does_not_elaborate_is_its_own_error(fake_repl):
    from flywheel.lean.repl.client import HeaderError

    bad = "import Mathlib\n\nopen undefined_Space\n"
    with _pool(fake_repl) as pool:
        assert pool.check(OPEN_FOO, USES_FOO).answer["messages"] == []
        for _ in range(2):  # the second time without asking Lean again
            with pytest.raises(HeaderError, match=r"header does not elaborate after its imports: line 3 \('open undefined_Space'\): unknown namespace 'undefined_Space'"):
                pool.check(bad, "theorem t : True := trivial")
        assert pool.check(OPEN_FOO, USES_FOO).answer["messages"] == []  # the same process serves on
        assert pool.stats.started == 1 and pool.stats.crashes == 0 and pool.processes() == 1


def test_a_restarted_process_builds_its_header_envs_again(fake_repl):
    with _pool(fake_repl, timeout_s=2.0) as pool:
        assert pool.check(OPEN_FOO, USES_FOO).answer["messages"] == []
        assert pool.check(OPEN_FOO, "theorem d : True := trivial -- fake:die").failure.fault is Fault.DIED
        assert pool.check(OPEN_FOO, USES_FOO).answer["messages"] == []
    assert pool.stats.started == 3 and pool.stats.env_builds == 3  # the failed check's retry, then the next


def test_other_imports_take_an_idle_process_at_once_or_after_it_sat_idle(fake_repl):
    other = "import Other\n\nopen Foo\n"
    slow = "theorem s : True := trivial -- fake:sleep=1500"
    with _pool(fake_repl, size=2, timeout_s=5.0, rebalance_s=0.3) as pool:
        both = [threading.Thread(target=pool.check, args=(OPEN_FOO, USES_FOO)) for _ in range(2)]
        for t in both:
            t.start()
        for t in both:
            t.join()
        assert pool.processes() == 2 and pool.stats.started in (1, 2)
        started = pool.stats.started
        first = threading.Thread(target=pool.check, args=(other, slow))
        first.start()
        while pool.stats.started == started:  # no process of its imports: an idle one of OPEN_FOO gives way at once
            threading.Event().wait(0.01)
        assert pool.stats.evictions == 1
        second = pool.check(other, USES_FOO)  # its imports' process is busy: the last idle one gives way once aged
        first.join()
    assert second.answer["messages"] == [] and pool.stats.evictions == 2


def test_imports_with_a_process_grow_only_while_every_process_is_held(fake_repl):
    # check_many's order at a cap above its callers: two callers, one import set, then the other. The first set
    # gets a process per caller; the second gets one, while the first's sit idle: a second would be a start
    # (seconds with Mathlib) that two callers cannot use beside the three processes there are.
    other = "import Other\n\nopen Foo\n"
    slow = "theorem s : True := trivial -- fake:sleep=300"
    with _pool(fake_repl, size=4, timeout_s=5.0) as pool:
        for header in (OPEN_FOO, other):
            pair = [threading.Thread(target=pool.check, args=(header, slow)) for _ in range(2)]
            for t in pair:
                t.start()
            for t in pair:
                t.join()
        assert pool.stats.started == 3 and pool.stats.evictions == 0 and pool.processes() == 3
        assert pool.check(OPEN_FOO, USES_FOO).answer["messages"] == []  # the first set's processes serve on
    assert pool.stats.started == 3 and pool.stats.checks == 5
