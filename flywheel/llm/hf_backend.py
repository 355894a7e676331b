"""transformers `generate`, for a CPU or a single GPU. Sequences of requests with the same max_tokens and
stop strings are batched (left padding); each sequence samples from its own seeded torch generator, so
a seeded request gives the same samples whatever else shares its batch."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import groupby
from typing import Sequence

from flywheel.config import DTYPES, GeneratorConfig
from flywheel.errors import ConfigError, GenerationError
from flywheel.llm.base import (Completion, FinishReason, GenerationRequest, prompt_token_ids, require_open,
                               too_long, truncate_at_stop, validate)
from flywheel.llm.hf_sampling import RowSampler, row_seed



@dataclass(slots=True)
class _Row:
    """One of the n sequences of a request."""

    request: int
    sample: int
    ids: list[int]  # the prompt's tokens
    seed: int


class HFGenerator:
    name = "hf"

    def __init__(self, cfg: GeneratorConfig):
        if not cfg.model:
            raise ConfigError("generator.model is not set (a local path or a hub name)")
        if cfg.dtype not in DTYPES:
            raise ConfigError(f"generator.dtype {cfg.dtype!r}: use one of {', '.join(DTYPES)}")
        if cfg.batch_size < 1:
            raise ConfigError(f"generator.batch_size must be 1 or more, got {cfg.batch_size}")
        self.cfg = cfg
        self.model: str | None = cfg.model
        self._model = None
        self._tok = None
        self._device = "cpu"
        self._eos: list[int] = []
        self._rng = random.Random(cfg.seed)  # seeds of unseeded requests: reproducible per run

    def __enter__(self) -> "HFGenerator":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"generator.device is {device!r} but torch sees no CUDA device")
        dtype = "auto" if self.cfg.dtype == "auto" else getattr(torch, self.cfg.dtype)
        remote = self.cfg.trust_remote_code
        try:
            self._tok = AutoTokenizer.from_pretrained(self.cfg.model, trust_remote_code=remote)
            model = AutoModelForCausalLM.from_pretrained(self.cfg.model, dtype=dtype, trust_remote_code=remote)
            self._model = model.to(device).eval()
        except (OSError, ValueError, RuntimeError) as e:
            raise GenerationError(f"cannot load model {self.cfg.model!r}: {e}") from e
        self._tok.padding_side = "left"
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token
        eos = self._model.generation_config.eos_token_id
        eos = eos if eos is not None else self._tok.eos_token_id
        self._eos = [int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None]
        self._device = device
        return self

    def __exit__(self, *exc) -> None:
        self._model = None
        self._tok = None
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def _prompt_ids(self, req: GenerationRequest) -> list[int]:
        return prompt_token_ids(self._tok, req.prompt)

    def _rows(self, requests: Sequence[GenerationRequest], out: list) -> list[_Row]:
        """The rows to generate; a request whose prompt fills the model's positions is answered in out now."""
        limit = getattr(self._model.config, "max_position_embeddings", None)
        rows = []
        for i, req in enumerate(requests):
            ids = self._prompt_ids(req)
            base = req.seed if req.seed is not None else self._rng.getrandbits(62)
            if isinstance(limit, int) and len(ids) >= limit:
                out[i] = too_long(req, len(ids), limit)
                continue
            rows += [_Row(i, k, ids, row_seed(base, k)) for k in range(req.n)]
        return rows

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        validate(requests)
        require_open(self._model, self.name)
        out: list[list[Completion | None]] = [[None] * r.n for r in requests]

        def shape(row: _Row):
            return requests[row.request].max_tokens, tuple(requests[row.request].stop)

        rows = sorted(self._rows(requests, out), key=shape)
        for _, same in groupby(rows, key=shape):
            same = list(same)
            for start in range(0, len(same), self.cfg.batch_size):
                batch = same[start:start + self.cfg.batch_size]
                for row, completion in zip(batch, self._batch(requests, batch)):
                    out[row.request][row.sample] = completion
        return out  # type: ignore[return-value]  # every slot was filled above

    def _batch(self, requests: Sequence[GenerationRequest], rows: list[_Row]) -> list[Completion]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        first = requests[rows[0].request]
        enc = self._tok.pad({"input_ids": [r.ids for r in rows]}, padding=True, return_tensors="pt").to(self._device)
        width = enc["input_ids"].shape[1]
        sampler = RowSampler([requests[r.request] for r in rows], [r.seed for r in rows], width, self._eos,
                             self._device)
        # Greedy over the sampler's one-hot scores: the sampler alone decides every token.
        gen_cfg = GenerationConfig(max_new_tokens=first.max_tokens, do_sample=False, num_beams=1,
                                   pad_token_id=self._tok.pad_token_id, eos_token_id=self._eos)
        kwargs = dict(stop_strings=list(first.stop), tokenizer=self._tok) if first.stop else {}
        try:
            with torch.inference_mode():
                seqs = self._model.generate(**enc, generation_config=gen_cfg,
                                            logits_processor=LogitsProcessorList([sampler]), **kwargs)
        except (RuntimeError, ValueError) as e:
            keys = ", ".join(str(requests[r.request].key or r.request) for r in rows[:5])
            raise GenerationError(f"transformers generate failed for requests {keys}: {e}") from e
        return [self._completion(requests[r.request], r, seqs[j, width:].tolist()) for j, r in enumerate(rows)]

    def _completion(self, req: GenerationRequest, row: _Row, new: list[int]) -> Completion:
        end = next((j for j, t in enumerate(new) if t in self._eos), None)
        body = new if end is None else new[:end]
        text, stopped = truncate_at_stop(self._tok.decode(body, skip_special_tokens=True), req.stop)
        if stopped:
            count, reason = self._tokens_to_stop(body, req.stop), FinishReason.STOP
        elif end is not None:
            count, reason = end + 1, FinishReason.STOP
        else:
            # Neither end of sequence nor stop string: the row ran to max_tokens (nothing was padded).
            count, reason = len(new), FinishReason.LENGTH
        return Completion(text, reason, len(row.ids), count, row.sample)

    def _tokens_to_stop(self, tokens: list[int], stop: Sequence[str]) -> int:
        """The fewest leading tokens whose text holds a stop string: where generation ended (binary search,
        since a longer prefix never loses the stop string)."""
        lo, hi = 1, len(tokens)
        while lo < hi:
            mid = (lo + hi) // 2
            if truncate_at_stop(self._tok.decode(tokens[:mid], skip_special_tokens=True), stop)[1]:
                hi = mid
            else:
                lo = mid + 1
        return lo
