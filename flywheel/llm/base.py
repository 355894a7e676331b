"""The Generator interface: requests in, n completions per request out, in order."""

from __future__ import annotations

import enum
import logging
import math
import re
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from flywheel.config import BACKENDS, GeneratorConfig
from flywheel.errors import ConfigError, GenerationError

log = logging.getLogger(__name__)

Prompt = str | list[dict]  # text, or chat messages [{"role": ..., "content": ...}, ...]


@dataclass(slots=True)
class GenerationRequest:
    prompt: Prompt
    n: int = 1
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    max_tokens: int = 512
    stop: list[str] = field(default_factory=list)  # cut before the first one; the stop string is not kept
    seed: int | None = None  # the same seed gives the same n samples; None: the generator's own stream
    key: str | None = None  # the caller's id, named in errors
    min_tokens: int = 0  # no end-of-sequence before this many tokens (benchmarks fix lengths with it)


class FinishReason(str, enum.Enum):
    STOP = "stop"  # end of sequence or a stop string
    LENGTH = "length"  # max_tokens reached
    ABORT = "abort"  # the engine or server cut it short for another reason
    # The prompt does not fit the model's context (a long repair chain, Lean's long feedback): nothing was
    # generated for it, and the other requests go on.
    PROMPT_TOO_LONG = "prompt_too_long"

    @classmethod
    def parse(cls, value: str | None) -> "FinishReason":
        # Servers that omit the reason finished normally; tool calls and filters count as aborts.
        if value is None or value == "eos":
            return cls.STOP
        try:
            return cls(value)
        except ValueError:
            return cls.ABORT


@dataclass(slots=True)
class Completion:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int  # generated tokens, the end-of-sequence or stop-string tokens included
    index: int = 0  # which of the request's n samples


class Generator(Protocol):
    """A context manager: the model is loaded in __enter__ and released in __exit__."""

    name: str  # the back end: vllm | openai | hf
    model: str | None

    def __enter__(self) -> "Generator": ...

    def __exit__(self, *exc) -> None: ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """One list of exactly n completions per request, in request order."""
        ...


class StreamingGenerator(Generator, Protocol):
    """A generator that also takes requests one at a time, each answered as soon as it finishes (vLLM's
    asynchronous engine, an OpenAI-compatible server): the scheduler hands it every request the moment a
    strategy proposes it, so the engine's continuous batching never waits for a batch's slowest completion."""

    def submit(self, request: GenerationRequest) -> Future:
        """A Future of the request's n completions; a malformed request raises here (ConfigError)."""
        ...


def streams(generator: object) -> bool:
    """Whether a generator takes requests one at a time (StreamingGenerator.submit)."""
    return callable(getattr(generator, "submit", None))


def withdraw(generator: object, future: Future) -> None:
    """Take back a submitted request whose answer nobody wants any more (its side decided): the generator's own
    withdraw(future) where it has one (an OpenAI server's request: its connection shut), else Future.cancel,
    which stops one not started and, on vLLM's asynchronous engine, cancels its task, so the engine aborts it
    and its batch slot goes to a request that counts. The Future ends cancelled, with an error or, where
    the answer was already on its way, with the answer."""
    own = getattr(generator, "withdraw", None)
    if callable(own):
        own(future)
    else:
        future.cancel()


def _where(i: int, r: GenerationRequest) -> str:
    return f"request {i}" + (f" ({r.key})" if r.key else "")


def _check_messages(where: str, messages: list) -> None:
    if not messages:
        raise ConfigError(f"{where}: the chat prompt has no messages")
    for j, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ConfigError(f"{where}: message {j} must be a mapping with text 'role' and 'content'")


def validate(requests: Sequence[GenerationRequest]) -> None:
    """Refuse malformed requests before any model time is spent, naming the request and field."""
    for i, r in enumerate(requests):
        where = _where(i, r)
        if isinstance(r.prompt, list):
            _check_messages(where, r.prompt)
        elif not isinstance(r.prompt, str):
            raise ConfigError(f"{where}: prompt must be text or a list of chat messages")
        if r.n < 1:
            raise ConfigError(f"{where}: n must be at least 1, got {r.n}")
        if r.max_tokens < 1:
            raise ConfigError(f"{where}: max_tokens must be at least 1, got {r.max_tokens}")
        if not 0 <= r.min_tokens <= r.max_tokens:
            raise ConfigError(f"{where}: min_tokens must be between 0 and max_tokens, got {r.min_tokens}")
        if not (math.isfinite(r.temperature) and r.temperature >= 0):
            raise ConfigError(f"{where}: temperature must be 0 or more, got {r.temperature}")
        if not 0 < r.top_p <= 1:
            raise ConfigError(f"{where}: top_p must be in (0, 1], got {r.top_p}")
        if isinstance(r.stop, str) or not all(isinstance(s, str) and s for s in r.stop):
            raise ConfigError(f"{where}: stop must be a list of non-empty strings, got {r.stop!r}")


def too_long(req: GenerationRequest, prompt_tokens: int, limit: int | str) -> list[Completion]:
    """The answer to a request whose prompt does not fit the context: its n samples, each empty."""
    log.warning("request %s: its prompt (%s tokens) does not fit the model's context (%s): not generated",
                req.key or "(no key)", prompt_tokens or "?", limit)
    return [Completion("", FinishReason.PROMPT_TOO_LONG, prompt_tokens, 0, k) for k in range(req.n)]


# How vLLM (engine and server), SGLang and OpenAI say a prompt does not fit.
_TOO_LONG = re.compile(r"maximum (?:model|context) length|context length|context_length_exceeded|max_model_len",
                       re.I)


def says_too_long(message: str) -> bool:
    return _TOO_LONG.search(message) is not None


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text up to the first stop string (excluded), and whether one was found."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def chat_text(tokenizer, messages: list[dict]) -> str:
    """Messages rendered with the tokenizer's chat template, ready for the assistant's turn. Base models
    have no template; they get plain `role: content` lines, which is what such models were shown."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "


def prompt_token_ids(tokenizer, prompt: Prompt) -> list[int]:
    """The tokens a prompt is sent as (what vLLM makes of a text prompt, too), and what training puts before
    each completion: text with the tokenizer's special tokens, chat through its template (which writes its
    own BOS)."""
    if isinstance(prompt, str):
        return tokenizer(prompt)["input_ids"]
    return tokenizer(chat_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]


def require_open(loaded: object, name: str) -> None:
    if loaded is None:
        raise GenerationError(f"the {name} generator is used outside its `with` block")


def make_generator(cfg: GeneratorConfig) -> Generator:
    """The back end named by cfg.backend; nothing is loaded until the generator is entered."""
    if cfg.lora_adapter and cfg.backend != "vllm":
        raise ConfigError(f"generator.lora_adapter: only the vllm back end serves LoRA adapters, not {cfg.backend!r}")
    if cfg.backend == "vllm" and cfg.vllm_async:
        from flywheel.llm.vllm_async import AsyncVllmGenerator

        return AsyncVllmGenerator(cfg)
    if cfg.backend == "vllm":
        from flywheel.llm.vllm_backend import VllmGenerator

        return VllmGenerator(cfg)
    if cfg.backend == "openai":
        from flywheel.llm.openai_backend import OpenAIGenerator

        return OpenAIGenerator(cfg)
    if cfg.backend == "hf":
        from flywheel.llm.hf_backend import HFGenerator

        return HFGenerator(cfg)
    raise ConfigError(f"generator.backend must be one of {', '.join(BACKENDS)}, got {cfg.backend!r}")
