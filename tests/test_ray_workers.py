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


def test_a_killed_worker_is_replaced_and_the_check_retried(local_ray, lean_cfg):
    import ray

    from flywheel.lean.verifier import Verifier
    from orchestration.ray_workers import RayChecker
    from flywheel.records import VerdictStatus

    with RayChecker(lean_cfg, 3, local_ray(3)) as checker:
        proofs = [f"by\n  subst h₀ h₁\n  rfl -- {k}" for k in range(6)]
        assert [checker.check(HEADER, STATEMENT, p).status for p in proofs] == [VerdictStatus.PROVED] * 6
        victims = [checker._idle.get() for _ in range(2)]
        for actor in victims:
            ray.kill(actor, no_restart=True)
            checker._idle.put(actor)
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
