"""Run by tests/test_llm_vllm.py in its own process (vLLM starts an engine process and needs a __main__
guard): drive our vllm back end on a model, once, and print what came back as one JSON line. Mode `offline`:
vllm.LLM, a batch a call; `async`: vLLM's AsyncLLM, requests submitted one at a time."""

import json
import sys

THM = "theorem foo (x : ℕ) :"
CHAT = [{"role": "user", "content": "Prove 1 + 1 = 2"}]


def _dump(outs):
    return [[{"text": c.text, "finish": c.finish_reason.value, "prompt_tokens": c.prompt_tokens,
              "completion_tokens": c.completion_tokens, "index": c.index} for c in out] for out in outs]


def _probe(g) -> dict:
    from vllm import SamplingParams

    from flywheel.llm.base import GenerationRequest as R, chat_text

    free = g.generate([R("Show that", temperature=0.0, max_tokens=24)])[0][0].text
    raw = g._llm.generate(["Show that"], SamplingParams(temperature=0.0, max_tokens=24), use_tqdm=False)
    stop = free[5:8]
    calls = []
    engine_generate = g._llm.generate
    g._llm.generate = lambda *a, **k: calls.append(len(a[0])) or engine_generate(*a, **k)
    batch = _batch(g, stop)
    g._llm.generate = engine_generate
    chat_ids = g._tokenizer.encode(chat_text(g._tokenizer, CHAT), add_special_tokens=False)
    return {"free": free, "raw": raw[0].outputs[0].text, "stop": stop, "calls": calls,
            "chat_prompt_tokens": len(chat_ids), "batch": _dump(batch)}


def _batch(g, stop: str):
    from flywheel.llm.base import GenerationRequest as R

    return g.generate([
        R(THM, n=3, max_tokens=12, seed=5),
        R(THM, n=3, max_tokens=12, seed=5),
        R(THM, n=3, max_tokens=12, seed=6),
        R("Show that", temperature=0.0, max_tokens=24, stop=["@@never@@", stop]),
        R(CHAT, n=2, max_tokens=6, seed=1),
        R("Show that", n=2, max_tokens=20, min_tokens=20, seed=2),
        R(THM * 200, n=2, max_tokens=4, key="past the context"),  # ~2,000 tokens against max_model_len 512
    ])


def _probe_async(g) -> dict:
    """The same batch as offline, then streaming: a short request submitted after a long one is answered
    while the long one still decodes (continuous batching, no batch to wait for)."""
    from flywheel.llm.base import GenerationRequest as R, chat_text

    free = g.generate([R("Show that", temperature=0.0, max_tokens=24)])[0][0].text
    submitted = g.submit(R("Show that", temperature=0.0, max_tokens=24)).result()[0].text
    batch = _batch(g, free[5:8])
    long = g.submit(R(THM, max_tokens=400, min_tokens=400, seed=3))
    short = g.submit(R(THM, max_tokens=4, min_tokens=4, seed=4)).result()
    long_running_when_short_done = not long.done()
    long_tokens = long.result()[0].completion_tokens
    chat_ids = g._tokenizer.encode(chat_text(g._tokenizer, CHAT), add_special_tokens=False)
    cache = g._engine.vllm_config.cache_config
    withdrawal = _withdraw_one(g)
    proving = _prove_streamed(g)
    return {"free": free, "raw": submitted, "stop": free[5:8], "calls": [], "chat_prompt_tokens": len(chat_ids),
            "batch": _dump(batch), "long_running_when_short_done": long_running_when_short_done,
            "short_tokens": short[0].completion_tokens, "long_tokens": long_tokens,
            "prefix_caching": bool(cache.enable_prefix_caching)} | proving | withdrawal


def _withdraw_one(g) -> dict:
    """A long request withdrawn while it decodes: the engine is told to abort it and holds nothing after."""
    import time

    from flywheel.llm.base import GenerationRequest as R, withdraw

    engine, aborted = g._engine, []
    abort = engine.abort

    async def spy(request_id, internal=False):
        aborted.append(request_id)
        await abort(request_id, internal=internal)

    engine.abort = spy
    unfinished = engine.output_processor.get_num_unfinished_requests
    future = g.submit(R(THM, max_tokens=400, min_tokens=400, seed=8))
    deadline = time.monotonic() + 120
    while unfinished() == 0 and not future.done() and time.monotonic() < deadline:  # until the engine has it
        time.sleep(0.005)
    running = unfinished() == 1 and not future.done()
    withdraw(g, future)
    while unfinished() and time.monotonic() < deadline:
        time.sleep(0.005)
    engine.abort = abort
    return {"withdraw_running": running, "withdraw_cancelled": future.cancelled(), "withdraw_aborted": len(aborted),
            "withdraw_unfinished_after": unfinished()}


def _prove_streamed(g) -> dict:
    """A proving pass (repair) over the engine: the scheduler submits each request, never a batch."""
    from flywheel.config import ProverConfig, SamplingConfig
    from flywheel.lean.guard.verdicts import Verdict
    from flywheel.records import Side, VerdictStatus
    from prover_loop.prove import prove_pass
    from tests.seed import statement

    submitted, batches, results = [], [], []
    submit, generate = g.submit, g.generate
    g.submit = lambda r: submitted.append(r.key) or submit(r)
    g.generate = lambda rs: batches.append(len(rs)) or generate(rs)
    cfg = ProverConfig(samples_per_side=2, strategy=["repair"], repair_turns=1, sampling=SamplingConfig(max_tokens=8))
    check = lambda header, goal, proof: Verdict(VerdictStatus.FAILED, "no", [])  # noqa: E731
    prove_pass([statement(0), statement(1)], {}, [Side.STATEMENT], cfg, 0, 1, g, check, 2, results.extend)
    g.submit, g.generate = submit, generate
    return {"prove_submitted": len(submitted), "prove_batches": batches, "prove_results": len(results),
            "prove_attempts": sum(len(r.attempts) for r in results)}


def _engine_processes(me) -> list:
    """Child processes but multiprocessing's resource tracker, which lives until the interpreter ends."""
    import psutil

    out = []
    for child in me.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" not in cmd:
            out.append((child, cmd))
    return out


def main(model: str, mode: str) -> None:
    import psutil

    from flywheel.config import GeneratorConfig
    from flywheel.errors import GenerationError
    from flywheel.llm.base import GenerationRequest, make_generator

    cfg = GeneratorConfig(backend="vllm", model=model, dtype="float32", max_model_len=512,
                          gpu_memory_utilization=0.1, enforce_eager=True, vllm_async=mode == "async")
    g = make_generator(cfg)
    try:
        g.generate([GenerationRequest("x")])
        outside = ""
    except GenerationError as e:
        outside = str(e)
    me = psutil.Process()
    with g:
        result = _probe_async(g) if mode == "async" else _probe(g)
        during = _engine_processes(me)
    psutil.wait_procs([p for p, _ in _engine_processes(me)], timeout=20)
    result |= {"outside": outside, "children_during": len(during),
               "children_after": [cmd for _, cmd in _engine_processes(me)]}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "offline")
