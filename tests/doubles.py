"""TEST DOUBLES: a scripted generator standing in for an LLM. Never a default of the product."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping, Sequence

from flywheel.llm.base import Completion, GenerationRequest


class ScriptedGenerator:
    """Answers each request from a script: a callable request -> list of texts (cycled to n), or a
    mapping from a substring of the prompt to texts. Records every request; can sleep per request."""

    def __init__(self, script: Callable[[GenerationRequest], Sequence[str]] | Mapping[str, Sequence[str]],
                 latency_s: float = 0.0, model: str = "scripted"):
        self.script = script
        self.latency_s = latency_s
        self.model = model
        self.requests: list[GenerationRequest] = []
        self._lock = threading.Lock()

    def __enter__(self) -> "ScriptedGenerator":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def _texts(self, req: GenerationRequest) -> Sequence[str]:
        if callable(self.script):
            return self.script(req)
        prompt = req.prompt if isinstance(req.prompt, str) else req.prompt[-1]["content"]
        for key, texts in self.script.items():
            if key in prompt:
                return texts
        return [""]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        out = []
        for req in requests:
            with self._lock:
                self.requests.append(req)
            if self.latency_s:
                time.sleep(self.latency_s)
            texts = list(self._texts(req)) or [""]
            out.append([Completion(texts[k % len(texts)], "stop", 10, len(texts[k % len(texts)]) // 4, k)
                        for k in range(req.n)])
        return out


class OpenAIServer:
    """A scripted OpenAI-compatible server on 127.0.0.1 (a test double): `plan` lists, per prompt, the
    statuses to give before answering; `respond(prompt, i)` makes the i-th completion's text
    (default: the prompt and i)."""

    def __init__(self, respond=None):
        self.respond = respond or (lambda prompt, i: f"{prompt}#{i}")
        self.plan: dict[str, list] = {}
        self.seen: list[dict] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = body.get("prompt") or body["messages"][-1]["content"]
                with outer.lock:
                    outer.seen.append(body | {"path": self.path, "auth": self.headers.get("Authorization")})
                    outer.active += 1
                    outer.max_active = max(outer.max_active, outer.active)
                    step = outer.plan.get(key, [])
                    action = step.pop(0) if step else 200
                try:
                    time.sleep(0.05)
                    if action == "hang":
                        time.sleep(2)
                        return
                    if action != 200:
                        self.send_response(action)
                        if action == 429:
                            self.send_header("Retry-After", "0")
                        self.end_headers()
                        self.wfile.write(b'{"error": "busy"}')
                        return
                    chat = self.path.endswith("/chat/completions")
                    texts = [outer.respond(key, i) for i in range(body["n"])]
                    choices = [({"message": {"role": "assistant", "content": texts[i]}} if chat else {"text": texts[i]})
                               | {"index": i, "finish_reason": "stop"} for i in range(body["n"])]
                    data = json.dumps({"choices": choices[::-1], "usage": {"prompt_tokens": 3, "completion_tokens": 4 * body["n"]}})
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(data.encode())
                finally:
                    with outer.lock:
                        outer.active -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
