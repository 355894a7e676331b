"""A tiny random Llama over a vocabulary of a few Lean tactic words, one of them `undefined_lemma` (a name the
fake REPL does not know): what it samples from the start is proved about half the time, so GRPO has a signal
to learn from in a few dozen CPU steps. The prompt's other words are all `<unk>`. `build(out, words)` makes the
same policy over other words (bench/flywheel.py: the synthetic benchmark's vocabulary)."""

from __future__ import annotations

from pathlib import Path

# "```" closes the code block (the prover's stop string); "abcdef" is the probe transformers' stop-string matching
# tokenizes to learn how tokens print, so it must be a word of the vocabulary.
WORDS = ["simp", "rfl", "ring", "linarith", "norm_num", "omega", "exact", "undefined_lemma", "```", "abcdef", "\n",
         "  "]


# what every vocabulary needs beside its words: the closing fence, the stop-string probe, and the whitespace words
FRAME = ["```", "abcdef", "\n", "  "]


def build(out: Path, words: list[str] | None = None, seed: int = 0) -> Path:
    if (out / "config.json").exists():
        return out
    words = WORDS if words is None else list(dict.fromkeys([*words, *FRAME]))
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from tests.tiny_model import CHAT_TEMPLATE, SIZES

    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", "<pad>", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with a space
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, tie_word_embeddings=False, **SIZES["tiny"])
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    return out
