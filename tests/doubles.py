"""TEST DOUBLES: a scripted generator standing in for an LLM. Never a default of the product."""

from __future__ import annotations

import threading
import time
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
