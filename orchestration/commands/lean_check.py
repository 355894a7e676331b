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
    p.add_argument("--workers", type=int, metavar="N", help="REPL processes (default: lean.workers)")
    p.add_argument("--timeout", type=float, metavar="S", help="seconds per check (default: lean.timeout_s)")
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


def _row(item: dict, verdict) -> dict:
    if verdict is None:
        return {"id": item.get("id"), "verdict": None, "reason": item["error"], "messages": [], "axioms": None,
                "time_s": 0.0, "cached": False}
    return {"id": item["id"]} | verdict.to_json()


def _finished(future) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def _check_into(verifier, items: list[dict], out, workers: int) -> dict[str, int]:
    """Check the good items on `workers` threads and write every row to `out` in input order, each as soon as
    those before it are written. On Ctrl-C the rows finished by then are written (still in input order,
    skipping the unfinished) before the interrupt goes on."""
    from concurrent.futures import ThreadPoolExecutor

    from orchestration.progress import progress_bar

    counts: dict[str, int] = {}
    written: set[int] = set()

    def write(i: int, verdict) -> None:
        item = items[i]
        if verdict is None:
            print(item["error"], file=sys.stderr)
        key = "bad input" if verdict is None else verdict.status.value
        counts[key] = counts.get(key, 0) + 1
        out.write(json.dumps(_row(item, verdict), ensure_ascii=False) + "\n")
        out.flush()  # a kill loses nothing written so far
        written.add(i)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lean")
    futures = {i: pool.submit(verifier.check, it["header"], it["statement"], it["proof"])
               for i, it in enumerate(items) if "error" not in it}
    with progress_bar("lean check", len(futures), "proof") as bar:
        for future in futures.values():
            future.add_done_callback(lambda _: bar.update())
        try:
            for i in range(len(items)):
                write(i, futures[i].result() if i in futures else None)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            for i in range(len(items)):
                if i not in written and (i not in futures or _finished(futures[i])):
                    write(i, futures[i].result() if i in futures else None)
            print(f"{out.name}: interrupted: wrote the {len(written)} of {len(items)} lines finished, in input order",
                  file=sys.stderr)
            raise
    pool.shutdown()
    return counts


def cmd_check(args: argparse.Namespace, cfg: Config) -> int:
    from orchestration.engines import open_verifier
    from orchestration.outputs import check_out_file

    if args.workers is not None:
        if args.workers < 1:
            raise ConfigError(f"--workers must be 1 or more, got {args.workers}")
        cfg.lean.workers = args.workers
    if args.timeout is not None:
        if not args.timeout > 0:
            raise ConfigError(f"--timeout must be more than 0 seconds, got {args.timeout}")
        cfg.lean.timeout_s = args.timeout
    items = list(_items(args.file, cfg.lean.header))
    out_path = check_out_file(args.out)  # before any check runs
    store = None
    if not args.no_store and not args.no_cache:
        from db.store import Store

        store = Store.open(cfg.db)
    try:
        with open(out_path, "w", encoding="utf-8") as out, \
                open_verifier(cfg.lean, store, cache=not args.no_cache) as verifier:
            counts = _check_into(verifier, items, out, cfg.lean.workers)
            stats = verifier.stats()
    finally:
        if store is not None:
            store.close()
    print(f"{args.out}: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    print(f"lean: {stats['checks']} checks, {stats['restarts']} restarts, {stats['timeouts']} timeouts, "
          f"cache hits {stats['cache_hits']}/{stats['cache_lookups']}")
    return 1 if counts.get("bad input") else 0
