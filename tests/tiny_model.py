"""A small randomly initialised Llama with a tokenizer trained here, saved as a local HF model directory
that transformers and vLLM load offline. Head size 32 for "tiny" (vLLM's CPU kernels need >= 32); "1b"
is the benchmark's GPU model (Llama-3.2-1B's shape, with this small vocabulary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=2, max_position_embeddings=1024),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, max_position_embeddings=4096),
}
CHAT_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


def corpus(shared: Path, limit: int = 600) -> list[str]:
    """Text of the shared data (miniF2F statements and MATH problems) to train the tokenizer on."""
    lines = []
    for rel in ("minif2f/minif2f.jsonl", "informal/math500.jsonl"):
        for raw in (shared / "data" / rel).read_text(encoding="utf-8").splitlines()[:limit]:
            row = json.loads(raw)
            lines += [str(v) for v in row.values() if isinstance(v, str)]
    return lines


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build(out: Path, shared: Path | None = None, vocab_size: int = 1024, size: str = "tiny",
          texts: Iterable[str] | None = None) -> Path:
    """Write tokenizer and model to `out` (idempotent) and return it. The tokenizer learns from `texts`,
    or from the shared data under `shared`."""
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    fast = train_tokenizer(texts if texts is not None else corpus(shared), vocab_size)
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, tie_word_embeddings=False, **SIZES[size])
    # float32 for the CPU tests; the 1B model is for GPUs, stored as vLLM would run it.
    dtype = torch.float32 if size == "tiny" else torch.bfloat16
    LlamaForCausalLM(config).to(dtype).save_pretrained(out, safe_serialization=True)
    return out


if __name__ == "__main__":
    import sys

    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
