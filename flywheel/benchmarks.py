"""The benchmark statements shipped with flywheel (miniF2F, ProofNet), for decontamination and export."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Sequence

from flywheel.errors import ConfigError

BUNDLED = ("minif2f", "proofnet")
# what `eval` can measure: the bundled ones and the synthetic benchmark (flywheel/synthetic.py), made, not shipped
EVALUATED = (*BUNDLED, "synthetic")


@dataclass(slots=True, frozen=True)
class BenchmarkItem:
    benchmark: str
    name: str
    split: str
    statement: str
    normalized: str
    header: str = ""  # the imports and opens (ProofNet's also definitions) the statement is checked under
    informal: str = ""


@functools.cache
def load_benchmark(name: str) -> tuple[BenchmarkItem, ...]:
    from flywheel.lean.text.statements import normalize_statement

    if name == "synthetic":
        from flywheel.synthetic import generate

        return tuple(BenchmarkItem(name, it.name, it.split, it.formal_statement, normalize_statement(it.formal_statement),
                                   it.header) for it in generate())
    if name not in BUNDLED:
        raise ConfigError(f"unknown benchmark {name!r} (known: {', '.join(EVALUATED)})")
    text = resources.files("flywheel").joinpath(f"data/{name}.jsonl").read_text("utf-8")
    items = []
    for line in text.splitlines():
        row = json.loads(line)
        st = row["formal_statement"]
        items.append(BenchmarkItem(name, row["name"], row.get("split", ""), st, normalize_statement(st),
                                   row.get("header", ""), row.get("informal_prefix", "")))
    return tuple(items)


def normalized_forms(names: Sequence[str]) -> set[str]:
    return {it.normalized for name in names for it in load_benchmark(name)}
