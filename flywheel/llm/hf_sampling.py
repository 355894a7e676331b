"""Per-sequence sampling for transformers `generate`: each row of a batch has its own temperature, top_p,
min_tokens and seeded torch generator, so its samples do not depend on its batch mates (HF's own
sampling draws the whole batch from one global stream)."""

from __future__ import annotations

from typing import Sequence

MASK64 = (1 << 63) - 1


def row_seed(base: int, sample: int) -> int:
    """A distinct, reproducible seed for sample `sample` of a request seeded with `base`."""
    # splitmix64's constants: neighbouring (base, sample) pairs land far apart.
    z = (base * 0x9E3779B97F4A7C15 + (sample + 1) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z ^= z >> 31
    return (z * 0x94D049BB133111EB) & MASK64


class RowSampler:
    """A logits processor that picks each row's next token itself and returns scores that are 0 for
    that token and -inf elsewhere; run under greedy decoding, generate takes exactly that token."""

    def __init__(self, requests: Sequence, seeds: Sequence[int], prompt_width: int, eos: Sequence[int], device):
        import torch

        self.prompt_width = prompt_width
        self.eos = list(eos)
        self.temps = torch.tensor([r.temperature for r in requests], dtype=torch.float32, device=device)
        self.top_p = torch.tensor([r.top_p for r in requests], dtype=torch.float32, device=device)
        self.min_tokens = [r.min_tokens for r in requests]
        self.sampled = [j for j, r in enumerate(requests) if r.temperature > 0]
        self.generators = {}
        for j in self.sampled:
            g = torch.Generator(device=device)
            g.manual_seed(seeds[j])
            self.generators[j] = g

    def __call__(self, input_ids, scores):
        import torch

        step = input_ids.shape[1] - self.prompt_width
        scores = scores.float()
        if self.eos:
            early = [j for j, m in enumerate(self.min_tokens) if step < m]
            if early:
                rows = torch.tensor(early, device=scores.device)
                scores[rows.unsqueeze(1), torch.tensor(self.eos, device=scores.device)] = float("-inf")
        choice = scores.argmax(dim=-1)
        if self.sampled:
            rows = torch.tensor(self.sampled, device=scores.device)
            choice[rows] = self._sample(scores[rows], rows)
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(scores.shape[0], device=scores.device), choice] = 0.0
        return out

    def _sample(self, scores, rows):
        import torch

        probs = torch.softmax(scores / self.temps[rows].unsqueeze(1), dim=-1)
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Nucleus: keep the smallest head whose mass reaches top_p (the first token always stays).
        before = sorted_probs.cumsum(dim=-1) - sorted_probs
        sorted_probs[before >= self.top_p[rows].unsqueeze(1)] = 0.0
        picks = [
            order[k, torch.multinomial(sorted_probs[k], 1, generator=self.generators[int(j)])]
            for k, j in enumerate(rows.tolist())
        ]
        return torch.cat(picks)
