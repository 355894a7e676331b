"""A tiny randomly initialised Llama with a tokenizer trained here, saved as a local HF model directory
that transformers and vLLM load offline. Head size 32 (vLLM's CPU kernels need >= 32)."""

from __future__ import annotations

import json
from pathlib import Path


def corpus(shared: Path, limit: int = 600) -> list[str]:
    lines = []
    for rel in ("minif2f/minif2f.jsonl", "informal/math500.jsonl"):
        for raw in (shared / "data" / rel).read_text(encoding="utf-8").splitlines()[:limit]:
            row = json.loads(raw)
            lines += [str(v) for v in row.values() if isinstance(v, str)]
    return lines


def build(out: Path, shared: Path, vocab_size: int = 1024) -> Path:
    """Write tokenizer and model to `out` (idempotent) and return it."""
    if (out / "config.json").exists():
        return out
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(shared), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                          "{% if add_generation_prompt %}assistant: {% endif %}")
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, tie_word_embeddings=False)
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(out, safe_serialization=True)
    return out


if __name__ == "__main__":
    import sys

    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
