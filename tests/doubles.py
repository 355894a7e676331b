"""TEST DOUBLES standing in for an LLM: a scripted in-process generator and a scripted
OpenAI-compatible HTTP server. Never a default of the product."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping, Sequence

from flywheel.llm.base import Completion, FinishReason, GenerationRequest, too_long, truncate_at_stop, validate


def prompt_text(req: GenerationRequest) -> str:
    """The text a script matches against: the prompt, or the last chat message's content."""
    return req.prompt if isinstance(req.prompt, str) else req.prompt[-1]["content"]


class ScriptedGenerator:
    """Answers each request from a script: a callable request -> texts, or a mapping from a substring of
    the prompt to texts (first match wins; `default` when none matches). Texts are cycled to n. Records
    every request it saw; validates them as the real back ends do; can sleep per request. Texts are cut at
    max_tokens (about 4 characters a token); with honour_stop also before the first stop string, as the
    real back ends do (off by default because older scripts end their texts with the stop string). A prompt of
    `context_chars` characters or more is answered as the real back ends answer one past the model's context:
    n empty samples, FinishReason.PROMPT_TOO_LONG."""

    name = "scripted"

    def __init__(self, script: Callable[[GenerationRequest], Sequence[str]] | Mapping[str, Sequence[str]],
                 latency_s: float = 0.0, model: str = "scripted", default: Sequence[str] = ("",),
                 honour_stop: bool = False, context_chars: int | None = None):
        self.script = script
        self.context_chars = context_chars
        self.latency_s = latency_s
        self.model = model
        self.default = list(default)
        self.honour_stop = honour_stop
        self.requests: list[GenerationRequest] = []
        self.calls = 0  # generate calls, to check that a stage batches its requests
        self._lock = threading.Lock()

    def __enter__(self) -> "ScriptedGenerator":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def _texts(self, req: GenerationRequest) -> list[str]:
        if callable(self.script):
            texts = self.script(req)
        else:
            prompt = prompt_text(req)
            texts = next((t for key, t in self.script.items() if key in prompt), self.default)
        return [texts] if isinstance(texts, str) else list(texts)

    def _completion(self, req: GenerationRequest, text: str, k: int) -> Completion:
        cut, stopped = truncate_at_stop(text, req.stop) if self.honour_stop else (text, False)
        if not stopped and len(cut) > req.max_tokens * 4:
            cut = cut[: req.max_tokens * 4]
        reason = FinishReason.STOP if len(cut) < req.max_tokens * 4 or stopped else FinishReason.LENGTH
        return Completion(cut, reason, len(prompt_text(req)) // 4 + 1, len(cut) // 4 + 1, k)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        validate(requests)
        with self._lock:
            self.calls += 1
        out = []
        for req in requests:
            with self._lock:
                self.requests.append(req)
            if self.latency_s:
                time.sleep(self.latency_s)
            if self.context_chars is not None and len(prompt_text(req)) >= self.context_chars:
                out.append(too_long(req, len(prompt_text(req)) // 4 + 1, self.context_chars))
                continue
            texts = self._texts(req) or [""]
            out.append([self._completion(req, texts[k % len(texts)], k) for k in range(req.n)])
        return out


class StreamingScriptedGenerator(ScriptedGenerator):
    """A ScriptedGenerator that streams (flywheel.llm.base.StreamingGenerator): each request submitted alone and
    answered on a thread of its own after `delay(request)` seconds, so a test sets which unit hears first.
    `answered` lists the prompts in the order their answers were given. withdraw(future) ends a request's wait
    at once, unanswered (CancelledError), as an engine aborts it; `withdrawn` lists those prompts."""

    def __init__(self, script, delay: Callable[[GenerationRequest], float] = lambda req: 0.0, **kw):
        super().__init__(script, **kw)
        self.delay = delay
        self.answered: list[str] = []
        self.withdrawn: list[str] = []
        self._waits: dict[Future, tuple[threading.Event, str]] = {}
        self._threads = ThreadPoolExecutor(8, thread_name_prefix="scripted-stream")

    def __exit__(self, *exc) -> None:
        self._threads.shutdown(wait=True)

    def submit(self, request: GenerationRequest) -> Future:
        validate([request])
        gone = threading.Event()

        def answer():
            if gone.wait(self.delay(request)):
                raise CancelledError(prompt_text(request))
            (out,) = self.generate([request])
            with self._lock:
                self.answered.append(prompt_text(request))
            return out

        future = self._threads.submit(answer)
        with self._lock:
            self._waits[future] = (gone, prompt_text(request))
        return future

    def withdraw(self, future: Future) -> None:
        with self._lock:
            gone, prompt = self._waits[future]
            self.withdrawn.append(prompt)
        gone.set()


class AnsweringStreamingGenerator(StreamingScriptedGenerator):
    """The same, but a request once out is always answered (a generator with no withdraw of its own)."""

    withdraw = None


class OpenAIServer:
    """A scripted OpenAI-compatible server on 127.0.0.1 and a random port. `plan` maps a prompt (or the last
    chat message) to the actions taken, one per incoming request, before it answers normally; a request the plan
    does not name takes `default_action` (200: answer). Actions: an HTTP status (429 carries Retry-After:
    `retry_after`); "hang" (answer nothing for `hang_s`); "generate" (answer after `hang_s` unless the client
    shuts its connection first, when the prompt goes to `aborted`, as vLLM's server aborts such a request;
    `generating_s` sums their time); "garbage" (200 with a body that is not JSON); "too_long" (400: the prompt
    past the context, as vLLM says it); "short" (one choice too few); "drop" (answer, then close the connection
    unannounced, as a server's idle timeout does). `connections` counts the TCP connections made.
    `respond(prompt, i)` makes the i-th completion's text (default: the prompt and i). `answering` cleared holds
    every request until it is set again (a generator that makes no progress while a test does something to the
    rest of the system); `held` counts the requests it has held."""

    def __init__(self, respond=None, retry_after: str | None = "0", hang_s: float = 2.0, latency_s: float = 0.05,
                 default_action=200):
        self.respond = respond or (lambda prompt, i: f"{prompt}#{i}")
        self.plan: dict[str, list] = {}
        self.seen: list[dict] = []
        self.retry_after = retry_after
        self.hang_s = hang_s
        self.latency_s = latency_s
        self.active = 0
        self.max_active = 0
        self.connections = 0
        self.answering = threading.Event()
        self.answering.set()
        self.held = 0  # requests that came in while `answering` was cleared
        self.aborted: list[str] = []  # "generate" requests whose client went before their answer
        self.generating_s = 0.0  # the time "generate" requests spent generating, answered or aborted
        self.default_action = default_action  # the action of a request the plan does not name
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def __enter__(self) -> "OpenAIServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def next_action(self, body: dict, path: str, auth: str | None, proxy_auth: str | None = None):
        key = body.get("prompt") or body["messages"][-1]["content"]
        with self.lock:
            self.seen.append(body | {"path": path, "auth": auth, "proxy_auth": proxy_auth})
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            steps = self.plan.get(key, [])
            return key, (steps.pop(0) if steps else self.default_action)

    def answer(self, key: str, body: dict, chat: bool, short: bool) -> bytes:
        n = body.get("n", 1) - (1 if short else 0)
        texts = [self.respond(key, i) for i in range(n)]
        choices = [({"message": {"role": "assistant", "content": t}} if chat else {"text": t})
                   | {"index": i, "finish_reason": "stop"} for i, t in enumerate(texts)]
        # Reversed on purpose: clients must order choices by index.
        usage = {"prompt_tokens": 3, "completion_tokens": 4 * n + 1}
        return json.dumps({"choices": choices[::-1], "usage": usage}).encode()


def _handler(server: OpenAIServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as vLLM's and SGLang's servers answer
        disable_nagle_algorithm = True  # as asyncio's servers: the body never waits on the headers' ACK

        def log_message(self, *a):
            pass

        def setup(self):
            super().setup()
            with server.lock:
                server.connections += 1

        def _send(self, status: int, data: bytes, headers: Mapping[str, str] = {}) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _client_gone(self, seconds: float) -> bool:
            """Whether the client shut or closed its connection within `seconds` (what vLLM's server listens for)."""
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([self.connection], [], [], min(left, 0.02))
                if ready:
                    try:
                        if not self.connection.recv(1, socket.MSG_PEEK):
                            return True
                    except OSError:
                        return True
            return False

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key, action = server.next_action(body, self.path, self.headers.get("Authorization"),
                                             self.headers.get("Proxy-Authorization"))
            try:
                if not server.answering.is_set():
                    with server.lock:
                        server.held += 1
                    server.answering.wait()
                time.sleep(server.latency_s)
                if action == "hang":
                    time.sleep(server.hang_s)
                elif action == "generate":  # vLLM's server: generating for hang_s, aborted if the client goes first
                    began = time.monotonic()
                    gone = self._client_gone(server.hang_s)
                    with server.lock:
                        server.generating_s += time.monotonic() - began
                        if gone:
                            server.aborted.append(key)
                    if gone:
                        self.close_connection = True
                    else:
                        self._send(200, server.answer(key, body, self.path.endswith("/chat/completions"), False))
                elif action == "garbage":
                    self._send(200, b"<html>bad gateway</html>")
                elif action == "too_long":  # vLLM's server on a prompt past max_model_len
                    self._send(400, json.dumps({"object": "error", "type": "BadRequestError", "code": 400, "message":
                                                "This model's maximum context length is 4096 tokens. However, you "
                                                "requested 5000 tokens (4488 in the messages, 512 in the completion)."
                                                }).encode())
                elif isinstance(action, int) and action != 200:
                    extra = {"Retry-After": server.retry_after} if action == 429 and server.retry_after else {}
                    self._send(action, b'{"error": {"message": "scripted failure"}}', extra)
                else:
                    chat = self.path.endswith("/chat/completions")
                    self._send(200, server.answer(key, body, chat, action == "short"))
                    self.close_connection = action == "drop"
            finally:
                with server.lock:
                    server.active -= 1

    return Handler
