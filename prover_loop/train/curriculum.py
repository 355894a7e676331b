"""GRPO's curriculum: the statement sides whose pass rate for the current prover lies in a band. Groups that
all fail or all succeed have no advantage to learn from, so only what the prover proves sometimes is kept
(DeepSeek-Prover-V1.5, Kimina-Prover, Goedel-Prover-V2: about (0, 1/4])."""

from __future__ import annotations

from typing import Sequence

from prover_loop.train.reward import Prompt


def needs_sampling(prompts: Sequence[Prompt], min_attempts: int) -> list[tuple[Prompt, int]]:
    """Those with fewer stored attempts than `min_attempts`, and how many more samples each needs."""
    return [(p, min_attempts - p.attempts) for p in prompts if p.attempts < min_attempts]


def in_band(prompts: Sequence[Prompt], low: float, high: float, most: int) -> list[Prompt]:
    """The prompts with low < rate <= high, the hardest first (then by key, so the choice is stable), at most `most`."""
    chosen = [p for p in prompts if p.rate is not None and low < p.rate <= high]
    return sorted(chosen, key=lambda p: (p.rate, p.key))[:most]


def record(prompts: Sequence[Prompt], low: float, high: float, after: dict[str, float | None] | None = None) -> dict:
    """The chosen set and its rates, as the checkpoint records them (after: the trained model's rates)."""
    rows = [{"statement_id": p.statement.id, "side": p.side.value, "attempts": p.attempts, "proved": p.proved,
             "rate_before": p.rate} | ({"rate_after": after.get(p.key)} if after is not None else {})
            for p in prompts]
    summary = {"band": [low, high], "prompts": rows, "mean_rate_before": _mean([p.rate for p in prompts])}
    if after is not None:
        summary["mean_rate_after"] = _mean([after.get(p.key) for p in prompts])
    return summary


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
