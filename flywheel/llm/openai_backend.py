"""Any OpenAI-compatible server (vLLM serve, SGLang, hosted): bounded concurrency, retries with
exponential backoff and jitter on 429/5xx/timeouts (Retry-After respected), the key from the environment."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from flywheel.config import GeneratorConfig
from flywheel.errors import ConfigError, GenerationError
from flywheel.llm.base import Completion, GenerationRequest, validate

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIGenerator:
    def __init__(self, cfg: GeneratorConfig, sleep=time.sleep):
        if not cfg.base_url:
            raise ConfigError("generator.base_url is not set (e.g. http://127.0.0.1:8000/v1)")
        if not cfg.model:
            raise ConfigError("generator.model is not set (the model name the server serves)")
        self.cfg = cfg
        self.model: str | None = cfg.model
        self.base = cfg.base_url.rstrip("/")
        self._key = os.environ.get(cfg.api_key_env, "")
        self._sleep = sleep
        self._rng = random.Random(cfg.seed)
        self._lock = threading.Lock()
        self.retries = 0

    def __enter__(self) -> "OpenAIGenerator":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def _body(self, req: GenerationRequest) -> tuple[str, dict]:
        body = {"model": self.cfg.model, "n": req.n, "temperature": req.temperature, "top_p": req.top_p,
                "max_tokens": req.max_tokens}
        if req.stop:
            body["stop"] = list(req.stop)
        if req.seed is not None:
            body["seed"] = req.seed
        if isinstance(req.prompt, str):
            return "/completions", body | {"prompt": req.prompt}
        return "/chat/completions", body | {"messages": req.prompt}

    def _post(self, path: str, body: dict) -> dict:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.cfg.request_timeout_s) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), 120.0)
            except ValueError:
                pass
        with self._lock:
            jitter = self._rng.uniform(0, 0.5)
        return min(0.5 * 2**attempt, 30.0) * (0.75 + jitter)

    def _one(self, i: int, req: GenerationRequest) -> list[Completion]:
        path, body = self._body(req)
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            retry_after = None
            try:
                answer = self._post(path, body)
                return self._parse(answer, req)
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}: {e.read()[:200].decode('utf-8', 'replace')}"
                if e.code not in RETRY_STATUS:
                    raise GenerationError(f"request {i} ({req.key or 'no key'}) to {self.base}{path}: {last}") from e
                retry_after = e.headers.get("Retry-After") if e.headers else None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            except (json.JSONDecodeError, KeyError, TypeError, IndexError) as e:
                last = f"malformed answer: {e}"
            if attempt < self.cfg.max_retries:
                with self._lock:
                    self.retries += 1
                self._sleep(self._delay(attempt, retry_after))
        raise GenerationError(f"request {i} ({req.key or 'no key'}) to {self.base}{path} failed "
                              f"{self.cfg.max_retries + 1} times; last: {last}")

    @staticmethod
    def _parse(answer: dict, req: GenerationRequest) -> list[Completion]:
        usage = answer.get("usage") or {}
        choices = sorted(answer["choices"], key=lambda c: c.get("index", 0))
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        per = int(usage.get("completion_tokens", 0)) // max(1, len(choices))
        out = []
        for k, c in enumerate(choices):
            text = c["text"] if "text" in c else c["message"]["content"]
            out.append(Completion(text or "", c.get("finish_reason") or "stop", prompt_tokens, per, k))
        return out

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        validate(requests)
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.cfg.max_concurrency, len(requests)))) as pool:
            return list(pool.map(lambda pair: self._one(*pair), enumerate(requests)))
