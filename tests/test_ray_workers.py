"""Lean workers as Ray actors: a worker that dies is replaced and its check retried; fractional CPUs on a
small machine; verdicts identical to the in-process verifier."""

import pytest

from tests.conftest import HEADER

pytestmark = pytest.mark.slow

STATEMENT = "theorem t (a b : ℕ) (h₀ : a = 2) (h₁ : b = 3) : a + b = 5"


@pytest.fixture(scope="module")
def local_ray():
    import ray

    from orchestration.engines import local_cpus_per_worker
    from orchestration.ray_workers import init_ray

    init_ray(None, 3)
    yield local_cpus_per_worker
    ray.shutdown()


def _kill(actor) -> None:
    """ray.kill, then wait until the actor's process is gone: Ray calls it dead a moment before its process
    (and the direct channel it serves) has exited."""
    import os
    import time

    import ray
    from ray.exceptions import RayActorError

    pid = ray.get(actor.__ray_call__.remote(lambda self: os.getpid()))
    ray.kill(actor, no_restart=True)
    with pytest.raises(RayActorError):
        for _ in range(200):
            ray.get(actor.__ray_ready__.remote(), timeout=30)
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"the killed actor's process {pid} is still there")


def test_a_killed_worker_is_replaced_and_the_check_retried(local_ray, lean_cfg):
    import ray

    from flywheel.lean.guard.verifier import Verifier
    from orchestration.ray_workers import RayChecker
    from flywheel.records import VerdictStatus

    with RayChecker(lean_cfg, 3, local_ray(3)) as checker:
        proofs = [f"by\n  subst h₀ h₁\n  rfl -- {k}" for k in range(6)]
        assert [checker.check(HEADER, STATEMENT, p).status for p in proofs] == [VerdictStatus.PROVED] * 6
        victims = [checker._idle.get() for _ in range(2)]
        for worker in victims:
            _kill(worker.actor)
            checker._idle.put(worker)
        failing = "by\n  omega -- fake:error=omega failed"
        got = [checker.check(HEADER, STATEMENT, p) for p in [failing, *proofs[:3], "by\n  sorry"]]
        assert [v.status for v in got] == [VerdictStatus.FAILED, *[VerdictStatus.PROVED] * 3, VerdictStatus.REJECTED]
        assert checker.replaced >= 2
        with Verifier(lean_cfg) as local:
            assert local.check(HEADER, STATEMENT, failing).status is got[0].status


def test_a_killed_generation_engine_is_replaced_and_asked_again(local_ray):
    import ray

    from flywheel.config import GeneratorConfig
    from flywheel.llm.base import GenerationRequest
    from orchestration.ray_workers import RayGenerator
    from tests.doubles import OpenAIServer

    with OpenAIServer(lambda prompt, i: f"{prompt}:{i}", latency_s=0.0) as server:
        cfg = GeneratorConfig(backend="openai", model="scripted", base_url=server.url, max_retries=1)
        with RayGenerator(cfg, engines=2, gpus_per_engine=0.0, cpus_per_engine=0.1) as gen:
            reqs = [GenerationRequest(prompt=f"p{k}", n=2, max_tokens=8) for k in range(5)]
            first = [[c.text for c in cs] for cs in gen.generate(reqs)]
            assert first == [[f"p{k}:0", f"p{k}:1"] for k in range(5)]
            ray.kill(gen._actors[1], no_restart=True)
            again = [[c.text for c in cs] for cs in gen.generate(reqs)]
            assert again == first and gen.replaced == 1


def test_a_worker_killed_during_a_check_is_replaced_and_the_check_answered(local_ray, lean_cfg, tmp_path):
    import os
    import signal
    import threading
    import time

    import ray

    from orchestration.ray_workers import RayChecker
    from flywheel.records import VerdictStatus

    with RayChecker(lean_cfg, 1, local_ray(1)) as checker:
        worker = checker._idle.queue[0]
        got = []
        gate = tmp_path / "gate"
        held = f"by\n  subst h₀ h₁\n  rfl -- fake:wait={gate}"
        t = threading.Thread(target=lambda: got.append(checker.check(HEADER, STATEMENT, held)))
        t.start()
        pid = ray.get(worker.actor.__ray_call__.remote(lambda self: os.getpid()))
        deadline = time.monotonic() + 120
        while not (tmp_path / "gate.waiting").exists():  # the check is inside the worker's REPL now
            assert time.monotonic() < deadline and t.is_alive(), got
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)  # the worker process alone, as when its node goes down
        gate.touch()  # the retried check, on the worker that replaces it, goes through
        t.join(timeout=120)
        assert [v.status for v in got] == [VerdictStatus.PROVED] and checker.replaced == 1, got


def test_checks_go_through_ray_calls_where_the_channel_cannot_be_reached(local_ray, lean_cfg, monkeypatch, caplog):
    from orchestration.ray_workers import RayChecker

    proofs = ["by\n  subst h₀ h₁\n  rfl", "by\n  omega -- fake:error=omega failed", "by\n  sorry"]

    def unreachable(self, host, port):
        raise ConnectionRefusedError(f"{host}:{port} refused")

    with RayChecker(lean_cfg, 2, local_ray(2)) as direct:
        assert all(w.stream is not None for w in direct._idle.queue)
        expected = [direct.check(HEADER, STATEMENT, p).to_json() for p in proofs]
    monkeypatch.setattr(RayChecker, "_connect", unreachable)
    with RayChecker(lean_cfg, 2, local_ray(2)) as via_ray:
        assert all(w.stream is None for w in via_ray._idle.queue)
        got = [via_ray.check(HEADER, STATEMENT, p).to_json() for p in proofs]
    assert "checks go through Ray calls" in caplog.text
    strip = lambda vs: [{k: v for k, v in d.items() if k != "time_s"} for d in vs]  # noqa: E731
    assert strip(got) == strip(expected) and len({d["verdict"] for d in got}) == 3


def test_the_channel_answers_only_with_the_run_token(local_ray, lean_cfg):
    import json
    import socket

    import ray

    from orchestration.ray_workers import RayChecker

    with RayChecker(lean_cfg, 1, local_ray(1)) as checker:
        host, port, _ = ray.get(checker._idle.queue[0].actor.address.remote())
        with socket.create_connection((host, port), timeout=30) as sock, sock.makefile("rwb") as stream:
            stream.write(b"not-the-token\n" + json.dumps([["h", "t", "theorem t : True := trivial", "k", 1, 0], False]).encode() + b"\n")
            stream.flush()
            assert stream.readline() == b""  # hung up, nothing run
        assert checker.check(HEADER, STATEMENT, "by\n  subst h₀ h₁\n  rfl").status.value == "proved"


def test_each_worker_holds_its_memory_resource(local_ray, lean_cfg):
    import ray

    from orchestration.ray_workers import RayChecker

    import time

    def held() -> float:  # Ray's view of resources catches up within a few reports
        total = ray.cluster_resources()["memory"]
        for _ in range(100):
            free = ray.available_resources().get("memory", 0)
            if total - free in (0, 2 * 64 * 2**20):
                break
            time.sleep(0.1)
        return total - free

    assert held() == 0
    with RayChecker(lean_cfg, 2, local_ray(2), memory_per_worker=64 * 2**20):
        assert held() == 2 * 64 * 2**20


def test_verdicts_are_keyed_by_the_toolchain_the_workers_report(local_ray, lean_cfg, monkeypatch):
    import dataclasses

    from flywheel.lean.repl import identity
    from flywheel.lean.guard.cache import MemoryCache
    from flywheel.lean.guard.verifier import Verifier
    from orchestration.ray_workers import RayChecker

    def not_in_the_driver(*args):  # on a cluster the driver may have no Lean at all
        raise AssertionError("the driver asked a REPL of its own for the toolchain")

    monkeypatch.setattr(identity, "identify", not_in_the_driver)
    cfg = dataclasses.replace(lean_cfg, repl=f"env FAKE_REPL_LEAN_VERSION=4.19.0 {lean_cfg.repl}")
    cache = MemoryCache()
    proof = "by\n  subst h₀ h₁\n  rfl"
    with RayChecker(cfg, 2, local_ray(2), cache=cache) as checker:
        assert checker.toolchain == checker.verifier.toolchain == "lean=4.19.0;mathlib=none"
        assert checker.check(HEADER, STATEMENT, proof).status.value == "proved"
    expected = Verifier(cfg, toolchain="lean=4.19.0;mathlib=none").prepare(HEADER, STATEMENT, proof)
    assert list(cache._data) == [expected.key]


def test_workers_of_different_toolchains_are_refused(lean_cfg):
    from flywheel.errors import FlywheelError
    from orchestration.ray_workers import RayChecker

    checker = RayChecker(lean_cfg, 2)
    checker._agree("lean=4.26.0;mathlib=abc")
    checker._agree("lean=4.26.0;mathlib=abc")
    with pytest.raises(FlywheelError, match="different toolchains"):
        checker._agree("lean=4.9.0;mathlib=abc")
    assert checker.verifier.toolchain == "lean=4.26.0;mathlib=abc"


def test_rmaxts_and_decompose_run_on_the_ray_lean_workers(local_ray, lean_cfg):
    """Tactic-level checks (rmaxts) and sketches (decompose) go to the worker that has the REPL, and a search
    and a decomposition store there what they store in-process."""
    from flywheel.config import ProverConfig, RmaxtsConfig
    from flywheel.lean.guard.verifier import Verifier
    from flywheel.records import Side, VerdictStatus
    from orchestration.ray_workers import RayChecker
    from prover_loop.prove import prove_pass
    from tests import test_decompose, test_rmaxts
    from tests.doubles import ScriptedGenerator
    from tests.seed import statement

    def run(check, tactics, sketch, strategy):
        results = []
        if strategy == "rmaxts":
            cfg = ProverConfig(strategy=["rmaxts"], rmaxts=RmaxtsConfig(rollouts=4, in_flight=2))
            st, generator = statement(0, text=test_rmaxts.TEXT), ScriptedGenerator(test_rmaxts._script)
        else:
            cfg = ProverConfig(strategy=["decompose"], sketches=1, lemma_samples=1)
            st, generator = statement(0), ScriptedGenerator(test_decompose._script())
        prove_pass([st], {}, [Side.STATEMENT], cfg, 0, 1, generator, check, 2, results.extend, tactics=tactics,
                   sketch=sketch)
        (result,) = results
        return [(a.statement_id, a.proof, a.verdict) for a in result.attempts], result.side

    with RayChecker(lean_cfg, 2, local_ray(2)) as checker, Verifier(lean_cfg) as local:
        for strategy in ("rmaxts", "decompose"):
            on_ray = run(checker.check, checker.check_tactics, checker.sketch, strategy)
            here = run(local.check, local.check_tactics, local.sketch, strategy)
            assert on_ray == here and on_ray[1] is Side.STATEMENT, strategy
            assert on_ray[0][-1][2] is VerdictStatus.PROVED
