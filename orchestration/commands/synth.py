"""`flywheel synth --out DIR`: write the synthetic formal benchmark (flywheel/synthetic.py) as JSONL."""

from __future__ import annotations

import argparse
from collections import Counter

from flywheel.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write the synthetic formal benchmark (train.jsonl, test.jsonl) that core Lean checks")
    p.add_argument("--out", required=True, help="folder for train.jsonl and test.jsonl")
    p.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace, cfg: Config) -> int:
    from pathlib import Path

    from flywheel.synthetic import FAMILIES, generate, write

    items = generate()
    paths = write(Path(args.out), items)
    counts = Counter((it.split, it.family) for it in items)
    for split, path in paths.items():
        by_family = ", ".join(f"{f} {counts[split, f]}" for f in FAMILIES)
        print(f"{path}: {sum(counts[split, f] for f in FAMILIES)} statements ({by_family})")
    print(f"next: flywheel ingest {paths['train']} --source synthetic --formal; "
          "evaluate with eval.benchmark: synthetic (its test split)")
    return 0
