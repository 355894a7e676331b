"""The OpenAI-compatible back end against a scripted local server: retries on 429/5xx/timeouts/garbage,
the Retry-After header, backoff, bounded concurrency, order of answers, and clear final errors."""

import base64
import email.utils
import socket
import time

import pytest

from flywheel.config import GeneratorConfig, load_config
from flywheel.errors import ConfigError, GenerationError
from flywheel.llm.base import FinishReason, GenerationRequest, make_generator
from flywheel.llm.openai_backend import OpenAIGenerator, retry_after_s
from tests.doubles import OpenAIServer


@pytest.fixture()
def server():
    with OpenAIServer() as s:
        yield s


def _gen(server, **kw):
    """A generator whose sleeps are recorded, not slept: the delays are checked, the test stays fast."""
    cfg = GeneratorConfig(backend="openai", model="prover", base_url=server.url,
                          request_timeout_s=kw.pop("request_timeout_s", 0.5), max_retries=kw.pop("max_retries", 3),
                          max_concurrency=kw.pop("max_concurrency", 4), **kw)
    slept: list[float] = []
    gen = OpenAIGenerator(cfg, sleep=slept.append)
    gen.slept = slept
    return gen


def test_retries_then_answers_in_order(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server.plan = {"a": [429, 500], "b": ["hang"], "c": [503, "garbage", "short"]}
    with _gen(server) as g:
        out = g.generate([GenerationRequest(p, n=2, stop=["```"], seed=3, key=p) for p in "abcd"])
    assert [[c.text for c in o] for o in out] == [[f"{p}#0", f"{p}#1"] for p in "abcd"]
    assert [c.index for c in out[0]] == [0, 1]  # the server answers choices in reverse order
    # usage is one total (9 tokens for 2 choices): shared out so the sum stays exact
    assert [c.completion_tokens for c in out[0]] == [5, 4] and out[0][0].prompt_tokens == 3
    assert out[3][0].finish_reason is FinishReason.STOP
    assert g.retries == 6 and len(g.slept) == 6
    first_d = next(x for x in server.seen if x["prompt"] == "d")
    assert first_d["stop"] == ["```"] and first_d["seed"] == 3 and first_d["n"] == 2
    assert first_d["auth"] == "Bearer sk-test" and first_d["path"] == "/v1/completions"
    assert sum(x["prompt"] == "c" for x in server.seen) == 4


def test_retry_after_is_honoured_and_backoff_grows(server):
    server.retry_after = "7"
    server.plan = {"a": [429, 502, 502]}
    with _gen(server) as g:
        g.generate([GenerationRequest("a")])
    assert g.slept[0] == 7.0  # the server's word
    assert 1.0 * 0.75 <= g.slept[1] <= 1.0 * 1.25 and 2.0 * 0.75 <= g.slept[2] <= 2.0 * 1.25
    delays = [g.delay(a, None) for a in range(12)]
    assert delays[0] < delays[2] < delays[4] and max(delays) <= 30 * 1.25
    assert g.delay(0, 500.0) == 60.0  # a server asking for too long is capped
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_s(soon) <= 31 and retry_after_s("soon") is None


def test_timeouts_are_retried_then_reported(server):
    server.plan = {"slow": ["hang"], "stuck": ["hang", "hang"]}
    with _gen(server, request_timeout_s=0.3, max_retries=1) as g:
        assert g.generate([GenerationRequest("slow")])[0][0].text == "slow#0"
        with pytest.raises(GenerationError, match=r"request 0 \(no key\).*failed 2 times.*[Tt]imeout"):
            g.generate([GenerationRequest("stuck")])


def test_chat_prompts_min_tokens_and_extra_body(server):
    with _gen(server, extra_body={"top_k": 20}) as g:
        out = g.generate([GenerationRequest([{"role": "user", "content": "hi"}], n=1, min_tokens=5)])
    assert out[0][0].text == "hi#0"
    seen = server.seen[0]
    assert seen["path"] == "/v1/chat/completions" and seen["messages"] == [{"role": "user", "content": "hi"}]
    assert seen["top_k"] == 20 and seen["min_tokens"] == 5 and seen["auth"] is None


def test_concurrency_is_bounded(server):
    with _gen(server, max_concurrency=2) as g:
        out = g.generate([GenerationRequest(str(i)) for i in range(10)])
    assert [o[0].text for o in out] == [f"{i}#0" for i in range(10)]
    assert server.max_active == 2


def test_gives_up_with_the_request_named(server):
    server.plan = {"x": [500] * 10}
    with _gen(server, max_retries=2) as g, pytest.raises(GenerationError, match=r"request 0 \(k1\).*failed 3 times.*HTTP 500"):
        g.generate([GenerationRequest("x", key="k1")])


def test_client_errors_are_not_retried_and_stop_the_batch(server):
    server.plan = {"y": [400]}
    with _gen(server, max_concurrency=1) as g, pytest.raises(GenerationError, match=r"request 0 \(y\).*HTTP 400.*scripted"):
        g.generate([GenerationRequest("y", key="y")] + [GenerationRequest(f"z{i}") for i in range(5)])
    assert [x["prompt"] for x in server.seen] == ["y"]  # no retry, and the queued requests were not sent


def test_a_prompt_past_the_context_is_answered_empty_and_the_batch_goes_on(server):
    # 400 "maximum context length" is that request's own (a long repair chain): its n samples come back empty,
    # marked, without a retry, and the other requests are answered; any other 400 still stops the batch.
    server.plan = {"long": ["too_long"]}
    with _gen(server, max_concurrency=1) as g:
        out = g.generate([GenerationRequest("long", n=2, key="long"), GenerationRequest("short", n=1)])
    assert [(c.text, c.finish_reason, c.index) for c in out[0]] == [("", FinishReason.PROMPT_TOO_LONG, 0),
                                                                   ("", FinishReason.PROMPT_TOO_LONG, 1)]
    assert [c.text for c in out[1]] == ["short#0"] and g.retries == 0
    assert [x["prompt"] for x in server.seen] == ["long", "short"]


def test_requests_share_keep_alive_connections(server):
    with _gen(server, max_concurrency=2) as g:
        for i in range(6):
            assert g.generate([GenerationRequest(f"p{i}")])[0][0].text == f"p{i}#0"
        out = g.generate([GenerationRequest(str(i)) for i in range(10)])
        # Nagle off: on a reused connection the body, written after the headers, would wait 40 ms for an ACK
        idle = g._connections._idle
        assert idle and all(c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in idle)
    assert [o[0].text for o in out] == [f"{i}#0" for i in range(10)]
    assert server.connections <= 2  # one a request before: a TCP set-up each time


def test_a_connection_the_server_closed_while_idle_is_sent_afresh_not_retried(server):
    server.plan = {"a": ["drop"]}
    with _gen(server, max_concurrency=1) as g:
        assert g.generate([GenerationRequest("a")])[0][0].text == "a#0"
        assert g.generate([GenerationRequest("b")])[0][0].text == "b#0"
    assert g.retries == 0 and g.slept == [] and server.connections == 2
    assert [x["prompt"] for x in server.seen] == ["a", "b"]


def test_the_environments_proxy_is_used_as_urllib_would(server, monkeypatch):
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://us%40er:pw@{server.url.split('//')[1].split('/')[0]}")
    cfg = GeneratorConfig(backend="openai", model="prover", base_url="http://model.invalid:8000/v1")
    with OpenAIGenerator(cfg) as g:
        assert g.generate([GenerationRequest("x")])[0][0].text == "x#0"
    assert server.seen[0]["path"] == "http://model.invalid:8000/v1/completions"
    assert server.seen[0]["proxy_auth"] == "Basic " + base64.b64encode(b"us@er:pw").decode()


def test_configuration_is_checked_at_the_boundary(server):
    with pytest.raises(ConfigError, match="base_url"):
        make_generator(GeneratorConfig(backend="openai", model="m"))
    with pytest.raises(ConfigError, match="backend must be one of"):
        make_generator(GeneratorConfig(backend="tgi", model="m"))
    cfg = load_config(environ={"FLYWHEEL_GENERATOR__EXTRA_BODY": '{"top_k": 5}',
                               "FLYWHEEL_GENERATOR__BACKEND": "openai", "FLYWHEEL_GENERATOR__MODEL": "m",
                               "FLYWHEEL_GENERATOR__BASE_URL": server.url})
    assert make_generator(cfg.generator).body(GenerationRequest("p"))[1]["top_k"] == 5
    with pytest.raises(ConfigError, match="http:// or https:// URL"):
        make_generator(GeneratorConfig(backend="openai", model="m", base_url="localhost:8000/v1"))
    with pytest.raises(ConfigError, match="http:// or https:// URL"):
        make_generator(GeneratorConfig(backend="openai", model="m", base_url="http://localhost:80a/v1"))
    with pytest.raises(ConfigError, match="extra_body"):
        make_generator(GeneratorConfig(backend="openai", model="m", base_url=server.url, extra_body="{top_k"))


def test_a_withdrawn_request_is_aborted_on_the_server_and_never_retried(server):
    """withdraw() on a request being generated shuts its connection: the server sees the client go (vLLM's
    server aborts the generation then), the Future ends with the reason at once, no retry is made, and the
    generator's next request is answered. One still queued behind max_concurrency never goes out."""
    from tests.states import until

    server.hang_s = 600.0
    server.plan = {"a": ["generate"]}
    with _gen(server, max_concurrency=1, request_timeout_s=600) as g:
        first = g.submit(GenerationRequest("a", key="a"))
        queued = g.submit(GenerationRequest("b", key="b"))
        until(lambda: server.active == 1, "the server generating the first request")
        g.withdraw(queued)
        assert queued.cancelled()
        g.withdraw(first)
        with pytest.raises(GenerationError, match="request 0 \\(a\\) .*withdrawn"):
            first.result(timeout=60)
        until(lambda: server.aborted == ["a"], "the server seeing the client go")
        assert [c.text for c in g.submit(GenerationRequest("c")).result(timeout=60)] == ["c#0"]
        answered = g.submit(GenerationRequest("d"))
        answered.result(timeout=60)
        g.withdraw(answered)  # too late: answered, left as it is
        assert not answered.cancelled() and [c.text for c in answered.result()] == ["d#0"]
    assert [x["prompt"] for x in server.seen] == ["a", "c", "d"] and g.retries == 0 and g.slept == []


def test_a_request_withdrawn_before_it_is_sent_is_not_sent(server):
    from flywheel.llm.keepalive import Watch

    with _gen(server) as g:
        watch = Watch()
        watch.withdraw()
        with pytest.raises(GenerationError, match="withdrawn"):
            g.one(0, GenerationRequest("a"), watch.withdrawn, watch)
    assert server.seen == []
