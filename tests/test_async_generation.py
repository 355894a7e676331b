"""Generation that never waits: a streaming generator (vLLM's AsyncLLM, an OpenAI server) gets each request as a
strategy proposes it; a batching one a batch a call. On the simulated continuous-batching engine
(tests/sim_engine.py)."""

import threading

import pytest

from bench.async_generation import FAIL, run_workload
from flywheel.config import GeneratorConfig, ProverConfig
from flywheel.errors import ConfigError, GenerationError
from flywheel.lean.guard.verdicts import Verdict
from flywheel.llm.base import GenerationRequest, streams
from flywheel.records import Side, VerdictStatus
from prover_loop.prove import prove_pass
from tests.doubles import OpenAIServer, ScriptedGenerator
from tests.seed import statement
from tests.sim_engine import SimulatedEngine, StreamingSimulatedEngine, lognormal_length


def _engines(**kw):
    text = lambda req, k: FAIL  # noqa: E731
    kw = dict(slots=16, step_s=0.001, length=lognormal_length(8, 1.0)) | kw
    return SimulatedEngine(text, **kw), StreamingSimulatedEngine(text, **kw)


def test_streamed_and_batched_runs_store_the_same_attempts():
    batched, streaming = _engines()
    assert not streams(batched) and streams(streaming)
    with batched, streaming:
        a = run_workload(batched, statements=6, samples=3, turns=2, workers=4, latency=(0.0, 0.002))
        b = run_workload(streaming, statements=6, samples=3, turns=2, workers=4, latency=(0.0, 0.002))
    assert a["stored"] == b["stored"] and len(a["stored"]) == 6
    # 2 sides x (a first request of 3 samples + 3 chains x 2 revisions), every attempt stored
    assert a["requests"] == b["requests"] == 6 * 2 * (1 + 3 * 2)
    assert all(len(ids) == 2 * 3 * 3 for ids in b["stored"].values())
    assert streaming.calls == 0 and streaming.submitted == b["requests"]  # one at a time, never a batch
    assert batched.calls < batched.submitted


def test_a_unit_runs_its_whole_chain_while_another_units_completion_decodes():
    release = threading.Event()
    slow_id = statement(0).id
    _, engine = _engines(hold=lambda req: release if (req.key or "").startswith(slow_id) else None)
    order = []

    def on_results(results):
        for r in results:
            order.append(r.statement.id)
            release.set()  # the other unit settled (first answers, checks, revisions, checks) while 0's decoded

    cfg = ProverConfig(samples_per_side=2, strategy=["repair"], repair_turns=2)
    check = lambda header, goal, proof: Verdict(VerdictStatus.FAILED, "no", [])  # noqa: E731
    with engine:
        prove_pass([statement(0), statement(1)], {}, [Side.STATEMENT], cfg, 0, 1, engine, check, 2, on_results)
    assert order == [statement(1).id, slow_id]


def test_a_streamed_request_that_fails_ends_the_pass_with_its_error():
    class Failing(StreamingSimulatedEngine):
        def submit(self, request):
            if "s1" in str(request.prompt):
                raise ConfigError("request 0 (s1): max_tokens must be at least 1, got 0")
            return super().submit(request)

    engine = Failing(lambda req, k: FAIL, slots=4, step_s=0.001, length=lognormal_length(4, 0.5))
    stored = []
    check = lambda header, goal, proof: Verdict(VerdictStatus.FAILED, "no", [])  # noqa: E731
    with engine, pytest.raises(ConfigError, match="max_tokens"):
        prove_pass([statement(0), statement(1)], {}, [Side.STATEMENT], ProverConfig(samples_per_side=2), 0, 1,
                   engine, check, 2, stored.extend)
    assert [r.statement.id for r in stored] == [statement(0).id]  # the work in flight finished and was stored


def test_roles_mix_a_streaming_prover_with_a_batching_generator():
    from prover_loop.strategies.scheduler import Lean, Scheduler

    _, engine = _engines()
    other = ScriptedGenerator(lambda req: [FAIL])
    scheduler = Scheduler(engine, Lean(lambda *a: None), 1, 1, lambda u: None, roles={"sketcher": other})
    assert scheduler.streaming and scheduler._generator("sketcher") is other and scheduler._generator(None) is engine


def test_the_openai_back_end_streams_requests_over_its_pool():
    from flywheel.llm.base import make_generator

    with OpenAIServer(latency_s=0.05) as server:
        cfg = GeneratorConfig(backend="openai", model="m", base_url=server.url, max_concurrency=4)
        gen = make_generator(cfg)
        assert streams(gen)
        with pytest.raises(GenerationError, match="outside its `with` block"):
            gen.submit(GenerationRequest("p"))
        with gen:
            futures = [gen.submit(GenerationRequest(f"p{i}", n=2)) for i in range(8)]
            answers = [f.result() for f in futures]
            with pytest.raises(ConfigError, match="n must be at least 1"):
                gen.submit(GenerationRequest("p", n=0))
    assert [[c.text for c in a] for a in answers] == [[f"p{i}#0", f"p{i}#1"] for i in range(8)]
    assert 1 < server.max_active <= 4  # concurrent, bounded by max_concurrency


def test_the_rounds_lazy_generator_streams_when_its_back_end_does():
    from orchestration.engines import LazyGenerator

    _, engine = _engines()
    streaming = LazyGenerator(lambda: engine, "simulated")
    batching = LazyGenerator(lambda: ScriptedGenerator(lambda req: [FAIL]), "scripted")
    try:
        assert streams(streaming) and not streams(batching)
        assert streaming.submit(GenerationRequest("p", n=2)).result()[1].index == 1
    finally:
        streaming.release()
        batching.release()
