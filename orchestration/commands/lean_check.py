"""`flywheel lean check FILE.jsonl --out OUT.jsonl`: verdicts for statement/proof pairs, in input order."""

from __future__ import annotations

import argparse
import json
import sys

from flywheel.config import Config
from flywheel.errors import ConfigError


def register(leansub: argparse._SubParsersAction) -> None:
    p = leansub.add_parser("check", help="verify proofs: each line {id, header?, statement, proof}")
    p.add_argument("file", help="JSONL input; proof is the text after `:=`")
    p.add_argument("--out", required=True, help="JSONL output, one verdict a line, in input order")
    p.add_argument("--workers", type=int, help="REPL processes (lean.workers)")
    p.add_argument("--timeout", type=float, help="seconds per check (lean.timeout_s)")
    p.add_argument("--no-cache", action="store_true", help="check everything again, ignoring cached verdicts")
    p.add_argument("--no-store", action="store_true", help="cache in memory only, without a database")
    p.set_defaults(func=cmd_check)


def _items(path: str, default_header: str):
    """(id, header, statement, proof) or an error line for each record, in order."""
    from flywheel.jsonl import BadRecord, read_records

    for item in read_records(path):
        if isinstance(item, BadRecord):
            yield {"line": item.line, "error": str(item)}
            continue
        line, obj = item
        missing = [k for k in ("statement", "proof") if not isinstance(obj.get(k), str)]
        header = obj.get("header", default_header)
        if missing or not isinstance(header, str):
            what = ", ".join(missing) if missing else "header"
            yield {"line": line, "id": obj.get("id"), "error": f"{path}:{line}: field {what} missing or not text"}
            continue
        yield {"line": line, "id": obj.get("id", line), "header": header, "statement": obj["statement"], "proof": obj["proof"]}


def cmd_check(args: argparse.Namespace, cfg: Config) -> int:
    from orchestration.engines import open_verifier

    if args.workers is not None:
        if args.workers < 1:
            raise ConfigError(f"--workers must be 1 or more, got {args.workers}")
        cfg.lean.workers = args.workers
    if args.timeout is not None:
        cfg.lean.timeout_s = args.timeout
    items = list(_items(args.file, cfg.lean.header))
    good = [it for it in items if "error" not in it]
    store = None
    if not args.no_store and not args.no_cache:
        from db.store import Store

        store = Store.open(cfg.db)
    try:
        with open_verifier(cfg.lean, store, cache=not args.no_cache) as verifier:
            verdicts = iter(verifier.check_many([(it["header"], it["statement"], it["proof"]) for it in good]))
            counts: dict[str, int] = {}
            with open(args.out, "w", encoding="utf-8") as out:
                for it in items:
                    if "error" in it:
                        print(it["error"], file=sys.stderr)
                        row = {"id": it.get("id"), "verdict": None, "reason": it["error"], "messages": [],
                               "axioms": None, "time_s": 0.0, "cached": False}
                        counts["bad input"] = counts.get("bad input", 0) + 1
                    else:
                        v = next(verdicts)
                        row = {"id": it["id"]} | v.to_json()
                        counts[v.status.value] = counts.get(v.status.value, 0) + 1
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
            stats = verifier.stats()
    finally:
        if store is not None:
            store.close()
    print(f"{args.out}: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    print(f"lean: {stats['checks']} checks, {stats['restarts']} restarts, {stats['timeouts']} timeouts, "
          f"cache hits {stats['cache_hits']}/{stats['cache_lookups']}")
    return 1 if counts.get("bad input") else 0
