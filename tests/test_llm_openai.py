"""The OpenAI-compatible back end against a local test server: retries on 429/5xx/timeouts, the
Retry-After header, bounded concurrency, order of answers, and a clear final error."""

import time

import pytest

from flywheel.config import GeneratorConfig
from flywheel.errors import GenerationError
from flywheel.llm.base import GenerationRequest, make_generator
from tests.doubles import OpenAIServer as Server


@pytest.fixture()
def server():
    s = Server()
    yield s
    s.close()


def _gen(server, **kw):
    cfg = GeneratorConfig(backend="openai", model="prover", base_url=server.url, request_timeout_s=0.5,
                          max_retries=kw.pop("max_retries", 3), max_concurrency=kw.pop("max_concurrency", 4), **kw)
    gen = make_generator(cfg)
    gen._sleep = lambda s: time.sleep(min(s, 0.01))  # keep the test fast; delays are checked below
    return gen


def test_retries_then_answers_in_order(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server.plan = {"a": [429, 500], "b": ["hang"], "c": [503]}
    with _gen(server) as g:
        out = g.generate([GenerationRequest(p, n=2, stop=["```"], seed=3) for p in "abcd"])
    assert [[c.text for c in o] for o in out] == [[f"{p}#0", f"{p}#1"] for p in "abcd"]
    assert out[0][0].prompt_tokens == 3 and out[0][0].completion_tokens == 4
    assert g.retries == 4
    first = next(x for x in server.seen if x["prompt"] == "d")
    assert first["stop"] == ["```"] and first["seed"] == 3 and first["auth"] == "Bearer sk-test"
    assert first["path"] == "/v1/completions"


def test_chat_prompts_use_chat_completions(server):
    with _gen(server) as g:
        out = g.generate([GenerationRequest([{"role": "user", "content": "hi"}], n=1)])
    assert out[0][0].text == "hi#0" and server.seen[0]["path"] == "/v1/chat/completions"


def test_concurrency_is_bounded(server):
    with _gen(server, max_concurrency=2) as g:
        g.generate([GenerationRequest(str(i)) for i in range(10)])
    assert server.max_active == 2


def test_gives_up_with_the_request_named(server):
    server.plan = {"x": [500] * 10}
    with _gen(server, max_retries=2) as g, pytest.raises(GenerationError, match=r"request 0 \(k1\).*failed 3 times.*HTTP 500"):
        g.generate([GenerationRequest("x", key="k1")])
    server.plan = {"y": [400]}
    with _gen(server) as g, pytest.raises(GenerationError, match="HTTP 400"):
        g.generate([GenerationRequest("y")])


def test_backoff_grows_and_honours_retry_after(server):
    g = _gen(server)
    delays = [g._delay(a, None) for a in range(6)]
    assert delays[0] < delays[2] < delays[4] and max(delays) <= 30 * 1.25
    assert g._delay(3, "7") == 7.0
