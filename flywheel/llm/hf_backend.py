"""transformers `generate`, for a CPU or a single GPU."""

from __future__ import annotations

from typing import Sequence

from flywheel.config import GeneratorConfig
from flywheel.errors import ConfigError, GenerationError
from flywheel.llm.base import Completion, GenerationRequest, truncate_at_stop, validate


class HFGenerator:
    def __init__(self, cfg: GeneratorConfig):
        if not cfg.model:
            raise ConfigError("generator.model is not set")
        self.cfg = cfg
        self.model: str | None = cfg.model
        self._model = None
        self._tok = None
        self._device = None

    def __enter__(self) -> "HFGenerator":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(self.cfg.dtype)
        if dtype is None:
            raise ConfigError(f"generator.dtype {self.cfg.dtype!r}: use auto, float32, bfloat16 or float16")
        try:
            self._tok = AutoTokenizer.from_pretrained(self.cfg.model)
            self._model = AutoModelForCausalLM.from_pretrained(self.cfg.model, dtype=dtype).to(device).eval()
        except OSError as e:
            raise GenerationError(f"cannot load model {self.cfg.model!r}: {e}") from e
        self._tok.padding_side = "left"
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token
        self._device = device
        return self

    def __exit__(self, *exc) -> None:
        self._model = None
        self._tok = None

    def _text(self, prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        return "\n".join(f"{m['role']}: {m['content']}" for m in prompt) + "\nassistant: "

    def _one(self, req: GenerationRequest) -> list[Completion]:
        import torch

        enc = self._tok(self._text(req.prompt), return_tensors="pt").to(self._device)
        prompt_len = enc["input_ids"].shape[1]
        gen = torch.Generator(device=self._device)
        gen.manual_seed(req.seed if req.seed is not None else self.cfg.seed)
        sample = req.temperature > 0
        kwargs = dict(max_new_tokens=req.max_tokens, do_sample=sample, num_return_sequences=req.n,
                      pad_token_id=self._tok.pad_token_id)
        if sample:
            kwargs.update(temperature=req.temperature, top_p=req.top_p)
        if req.stop:
            kwargs.update(stop_strings=list(req.stop), tokenizer=self._tok)
        torch.manual_seed(req.seed if req.seed is not None else self.cfg.seed)
        with torch.no_grad():
            out = self._model.generate(**enc, **kwargs)
        completions = []
        for i, seq in enumerate(out):
            new = seq[prompt_len:]
            eos = (new == self._tok.eos_token_id).nonzero()
            ended_eos = len(eos) > 0
            if ended_eos:
                new = new[: int(eos[0])]
            text, stopped = truncate_at_stop(self._tok.decode(new, skip_special_tokens=True), req.stop)
            count = int((new != self._tok.pad_token_id).sum()) if self._tok.pad_token_id != self._tok.eos_token_id else len(new)
            reason = "stop" if stopped or ended_eos else ("length" if len(new) >= req.max_tokens else "stop")
            completions.append(Completion(text, reason, prompt_len, count, i))
        return completions

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        validate(requests)
        if self._model is None:
            raise GenerationError("the hf generator is used outside its `with` block")
        return [self._one(r) for r in requests]
