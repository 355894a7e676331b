"""Benchmark decontamination: exact normalised match, and near-duplicates by n-gram Jaccard."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Sequence

from filters.base import Decision, Drop
from flywheel.benchmarks import BUNDLED, BenchmarkItem, load_benchmark
from flywheel.records import DropReason, Statement

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def ngrams(normalized: str, n: int) -> frozenset[tuple[str, ...]]:
    tokens = _TOKEN.findall(normalized)
    if len(tokens) < n:
        return frozenset([tuple(tokens)])
    return frozenset(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


class BenchmarkIndex:
    """The shipped benchmark statements, indexed by normalised text and by n-gram."""

    def __init__(self, items: Sequence[BenchmarkItem], n: int = 5):
        self.n = n
        self.items = list(items)
        self.exact = {it.normalized: it for it in self.items}
        self.grams = [ngrams(it.normalized, n) for it in self.items]
        self.postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, grams in enumerate(self.grams):
            for g in grams:
                self.postings[g].append(i)

    @classmethod
    def bundled(cls, names: Sequence[str] = BUNDLED, n: int = 5) -> "BenchmarkIndex":
        return cls([it for name in names for it in load_benchmark(name)], n)

    def match(self, normalized: str, threshold: float) -> tuple[BenchmarkItem, float] | None:
        """The benchmark item this statement equals or nearly equals (Jaccard ≥ threshold), if any."""
        hit = self.exact.get(normalized)
        if hit is not None:
            return hit, 1.0
        grams = ngrams(normalized, self.n)
        shared: dict[int, int] = defaultdict(int)
        for g in grams:
            for i in self.postings.get(g, ()):
                shared[i] += 1
        best: tuple[BenchmarkItem, float] | None = None
        for i, common in shared.items():
            score = common / (len(grams) + len(self.grams[i]) - common)
            if score >= threshold and (best is None or score > best[1]):
                best = (self.items[i], score)
        return best


def decontaminate(statements: Sequence[Statement], index: BenchmarkIndex, threshold: float) -> list[Decision]:
    from flywheel.lean.text.statements import normalize_statement

    out: list[Decision] = []
    for st in statements:
        found = index.match(normalize_statement(st.text), threshold)
        if found is None:
            out.append(None)
        else:
            item, score = found
            kind = "equals" if score == 1.0 else f"Jaccard {score:.2f} with"
            out.append(Drop(DropReason.CONTAMINATED, f"{kind} {item.benchmark} {item.split} {item.name}"))
    return out
