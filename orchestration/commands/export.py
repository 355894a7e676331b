"""`flywheel export --out DIR ...`: verified pairs as an SFT dataset."""

from __future__ import annotations

import argparse
import json

from flywheel.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write verified statement/proof pairs as a fine-tuning dataset")
    p.add_argument("--out", required=True, help="output folder, written afresh: train.* and manifest.json, nothing else")
    p.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl", help="file format of train.*")
    p.add_argument("--style", choices=["prompt-completion", "messages"], default="prompt-completion",
                   help="prompt-completion: the fields TRL's SFTTrainer takes; messages: one user and one assistant turn")
    p.add_argument("--turns", choices=["final", "all"], default="final",
                   help="final: each proof alone; all: a proof found by repair after the attempts it revised and "
                        "Lean's feedback on each (multi-turn messages; with prompt-completion, the repair prompt)")
    p.add_argument("--round", type=int, action="append", help="only this round (repeatable; default: every round)")
    p.add_argument("--sides", "--side", dest="sides", default="statement,negation",
                   help="comma-separated sides to write: statement, negation, false_hyps (proofs of `hyps ⊢ False`), "
                        "or all (default: statement,negation)")
    p.add_argument("--exclude-benchmarks", default="minif2f,proofnet",
                   help="comma-separated benchmarks whose statements are left out ('' for none)")
    p.add_argument("--include-unaudited", action="store_true",
                   help="also proofs `flywheel lean audit` has not checked yet (refused ones never)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace, cfg: Config) -> int:
    from db.export import export_dataset
    from db.store import Store
    from orchestration.outputs import check_out_dir

    exclude = [b.strip() for b in args.exclude_benchmarks.split(",") if b.strip()]
    check_out_dir(args.out)  # a file there, or a folder we cannot write in, is said before the store is read
    with Store.open(cfg.db) as store:
        manifest = export_dataset(store, args.out, args.format, args.style, args.round, args.sides, exclude,
                                  args.include_unaudited, turns=args.turns, require_checks=cfg.export.require_checks)
    counts = manifest["counts"]
    short = (f", {counts['excluded_checks']} audited without a check export.require_checks requires "
             f"({', '.join(cfg.export.require_checks)})" if counts["excluded_checks"] else "")
    print(f"wrote {counts['total']} pairs to {args.out} ({counts['excluded_benchmark']} benchmark statements left out, "
          f"{counts['excluded_unaudited']} proofs not audited yet{short})")
    print(json.dumps(manifest["counts"], sort_keys=True))
    return 0
