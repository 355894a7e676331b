"""Any OpenAI-compatible server (vLLM serve, SGLang, hosted): bounded concurrency, retries with
exponential backoff and jitter on 429/5xx/timeouts (Retry-After respected), the key from the environment.
Plain http.client on keep-alive connections (flywheel/llm/keepalive.py), so the back end needs no client package."""

from __future__ import annotations

import email.utils
import http.client
import itertools
import json
import os
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, Sequence

from flywheel.config import GeneratorConfig
from flywheel.errors import ConfigError, GenerationError
from flywheel.llm.base import (Completion, FinishReason, GenerationRequest, require_open, says_too_long, too_long,
                               validate)
from flywheel.llm.keepalive import Connections, Watch, Withdrawn

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_DELAY_S = 60.0


class _Abandoned(GenerationError):
    """Not tried (again) because another request of the same batch failed for good."""


class _Fatal(Exception):
    """A failure that another try would repeat (400, 401, 404, ...)."""

    def __init__(self, message: str, status: int = 0, body: str = ""):
        super().__init__(message)
        self.status, self.body = status, body


class _Retry(Exception):
    """A failure worth another try; `after` is the server's Retry-After in seconds, if it gave one."""

    def __init__(self, message: str, after: float | None = None):
        super().__init__(message)
        self.after = after


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def extra_body(cfg: GeneratorConfig) -> dict[str, Any]:
    body = cfg.extra_body
    if isinstance(body, str):  # from a FLYWHEEL_GENERATOR__EXTRA_BODY variable
        try:
            body = json.loads(body)
        except json.JSONDecodeError as e:
            raise ConfigError(f"generator.extra_body: not a JSON object: {e}") from e
    if not isinstance(body, dict):
        raise ConfigError(f"generator.extra_body must be a mapping, got {type(body).__name__}")
    return body


def parse_answer(answer: dict, n: int) -> list[Completion]:
    """The n choices of a (chat) completion answer, in index order; usage is shared out evenly because
    the API reports one total for all choices."""
    choices = sorted(answer["choices"], key=lambda c: c.get("index", 0))
    if len(choices) != n:
        raise ValueError(f"{len(choices)} choices for n={n}")
    usage = answer.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    total = int(usage.get("completion_tokens") or 0)
    out = []
    for k, c in enumerate(choices):
        text = c["text"] if "text" in c else c["message"]["content"]
        share = total // n + (1 if k < total % n else 0)
        out.append(Completion(text or "", FinishReason.parse(c.get("finish_reason")), prompt_tokens, share, k))
    return out


class OpenAIGenerator:
    name = "openai"

    def __init__(self, cfg: GeneratorConfig, sleep=time.sleep):
        if not cfg.base_url:
            raise ConfigError("generator.base_url is not set (e.g. http://127.0.0.1:8000/v1)")
        if not cfg.model:
            raise ConfigError("generator.model is not set (the model name the server serves)")
        if cfg.max_concurrency < 1 or cfg.max_retries < 0 or cfg.request_timeout_s <= 0:
            raise ConfigError("generator.max_concurrency must be >= 1, max_retries >= 0, request_timeout_s > 0")
        self.cfg = cfg
        self.model: str | None = cfg.model
        self.base = cfg.base_url.rstrip("/")
        self._extra = extra_body(cfg)
        self._key = ""
        self._sleep = sleep  # injectable, so tests see the delays without waiting them out
        self._rng = random.Random(cfg.seed)
        self._lock = threading.Lock()
        self.retries = 0  # retried attempts since construction
        self._pool: ThreadPoolExecutor | None = None  # submit()'s requests, max_concurrency at once
        self._submitted = itertools.count()
        self._watches: dict[Future, Watch] = {}  # submit()'s requests not answered yet
        self._connections = Connections(self.base, cfg.request_timeout_s, cfg.max_concurrency)

    def __enter__(self) -> "OpenAIGenerator":
        # Read when entered, not at construction or import: the caller may set it just before.
        self._key = os.environ.get(self.cfg.api_key_env, "")
        self._pool = ThreadPoolExecutor(max_workers=self.cfg.max_concurrency, thread_name_prefix="flywheel-openai")
        return self

    def __exit__(self, *exc) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._connections.close()
        self._key = ""

    def submit(self, request: GenerationRequest) -> Future:
        """One request on the generator's pool (max_concurrency in flight across all submitted), answered as it
        returns: the scheduler streams requests to the server as strategies propose them."""
        validate([request])
        require_open(self._pool, self.name)
        watch = Watch()
        future = self._pool.submit(self.one, next(self._submitted), request, watch.withdrawn, watch)
        with self._lock:
            self._watches[future] = watch
        future.add_done_callback(self._unwatch)  # at once if it is done already
        return future

    def _unwatch(self, future: Future) -> None:
        with self._lock:
            self._watches.pop(future, None)

    def withdraw(self, future: Future) -> None:
        """Take back a submitted request whose answer is no longer wanted: one still queued never goes out; one
        out is not tried again and its connection is shut, so the server stops generating it (vLLM's server
        aborts a request whose client is gone). Its Future then ends cancelled or with an error."""
        if future.cancel():
            return
        with self._lock:
            watch = self._watches.get(future)
        if watch is not None:
            watch.withdraw()

    def body(self, req: GenerationRequest) -> tuple[str, dict]:
        """The endpoint and JSON body of one request."""
        body = {"model": self.cfg.model, "n": req.n, "temperature": req.temperature, "top_p": req.top_p,
                "max_tokens": req.max_tokens} | self._extra
        if req.stop:
            body["stop"] = list(req.stop)
        if req.seed is not None:
            body["seed"] = req.seed
        if req.min_tokens:
            body["min_tokens"] = req.min_tokens  # vLLM and SGLang take it; OpenAI itself does not
        if isinstance(req.prompt, str):
            return "/completions", body | {"prompt": req.prompt}
        return "/chat/completions", body | {"messages": req.prompt}

    def _post(self, path: str, body: dict, watch: Watch | None = None) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        try:
            status, raw, after = self._connections.post(path, json.dumps(body).encode("utf-8"), headers, watch)
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            raise _Retry(f"{type(e).__name__}: {e}") from e
        if not 200 <= status < 300:
            detail = f"HTTP {status}: {raw[:300].decode('utf-8', 'replace')}"
            if status in RETRY_STATUS:
                raise _Retry(detail, retry_after_s(after))
            raise _Fatal(detail, status, raw[:4096].decode("utf-8", "replace"))
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _Retry(f"answer is not JSON: {e}") from e

    def delay(self, attempt: int, after: float | None) -> float:
        """Seconds before retry `attempt` + 1: the server's word if it gave one, else exponential with jitter."""
        if after is not None:
            return min(after, MAX_DELAY_S)
        with self._lock:
            jitter = self._rng.uniform(0.75, 1.25)
        return min(0.5 * 2**attempt, MAX_DELAY_S / 2) * jitter

    def one(self, i: int, req: GenerationRequest, give_up: threading.Event | None = None,
            watch: Watch | None = None) -> list[Completion]:
        """give_up set: no further try (another request of the batch failed, or `watch` withdrew this one)."""
        where = f"request {i} ({req.key or 'no key'}) to {self.base}"
        path, body = self.body(req)
        last = ""
        why = "withdrawn" if watch is not None else "abandoned, another request of the batch failed"
        for attempt in range(self.cfg.max_retries + 1):
            if give_up is not None and give_up.is_set():
                raise _Abandoned(f"{where}{path}: {why}")
            try:
                return parse_answer(self._post(path, body, watch), req.n)
            except Withdrawn as e:
                raise _Abandoned(f"{where}{path}: withdrawn") from e
            except _Fatal as e:
                if e.status == 400 and says_too_long(e.body):  # this request's own: the others go on
                    return too_long(req, 0, "the server's")
                raise GenerationError(f"{where}{path}: {e}") from e
            except _Retry as e:
                last, after = str(e), e.after
            except (KeyError, TypeError, ValueError, IndexError) as e:
                last, after = f"malformed answer: {type(e).__name__}: {e}", None
            if give_up is not None and give_up.is_set():  # the failure was the withdrawal's: no retry
                raise _Abandoned(f"{where}{path}: {why}")
            if attempt < self.cfg.max_retries:
                with self._lock:
                    self.retries += 1
                self._sleep(self.delay(attempt, after))
        raise GenerationError(f"{where}{path} failed {self.cfg.max_retries + 1} times; last: {last}")

    def _guarded(self, i: int, req: GenerationRequest, give_up: threading.Event) -> list[Completion]:
        try:
            return self.one(i, req, give_up)
        except BaseException:
            give_up.set()  # before this worker takes the next queued request
            raise

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        validate(requests)
        if not requests:
            return []
        give_up = threading.Event()
        workers = min(self.cfg.max_concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flywheel-openai") as pool:
            futures = [pool.submit(self._guarded, i, r, give_up) for i, r in enumerate(requests)]
            wait(futures, return_when=FIRST_EXCEPTION)
            if give_up.is_set():
                # Stop spending the server's time on a batch that cannot complete.
                for f in futures:
                    f.cancel()
        errors = [e for f in futures if not f.cancelled() and (e := f.exception()) is not None]
        if errors:
            raise next((e for e in errors if not isinstance(e, _Abandoned)), errors[0])
        return [f.result() for f in futures]
