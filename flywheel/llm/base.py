"""The Generator interface: requests in, n completions per request out, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from flywheel.config import GeneratorConfig
from flywheel.errors import ConfigError

Prompt = str | list[dict]  # text, or chat messages [{"role", "content"}]


@dataclass(slots=True)
class GenerationRequest:
    prompt: Prompt
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    key: str | None = None  # the caller's id, for logs


@dataclass(slots=True)
class Completion:
    text: str
    finish_reason: str  # "stop" | "length" | ...
    prompt_tokens: int
    completion_tokens: int
    index: int = 0


class Generator(Protocol):
    model: str | None

    def __enter__(self) -> "Generator": ...

    def __exit__(self, *exc) -> None: ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]: ...


def validate(requests: Sequence[GenerationRequest]) -> None:
    for i, r in enumerate(requests):
        where = f"request {i}" + (f" ({r.key})" if r.key else "")
        if r.n < 1:
            raise ConfigError(f"{where}: n must be at least 1, got {r.n}")
        if r.max_tokens < 1:
            raise ConfigError(f"{where}: max_tokens must be at least 1, got {r.max_tokens}")
        if not isinstance(r.prompt, (str, list)):
            raise ConfigError(f"{where}: the prompt must be text or chat messages")


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text up to the first stop string (excluded), and whether one was found."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def make_generator(cfg: GeneratorConfig) -> Generator:
    """The back end named by cfg.backend; nothing is loaded until the generator is entered."""
    if cfg.backend == "vllm":
        from flywheel.llm.vllm_backend import VllmGenerator

        return VllmGenerator(cfg)
    if cfg.backend == "openai":
        from flywheel.llm.openai_backend import OpenAIGenerator

        return OpenAIGenerator(cfg)
    if cfg.backend == "hf":
        from flywheel.llm.hf_backend import HFGenerator

        return HFGenerator(cfg)
    raise ConfigError(f"generator.backend must be vllm, openai or hf, got {cfg.backend!r}")
